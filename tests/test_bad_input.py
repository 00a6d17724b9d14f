"""The command line's policy for bad input, case by case (see gendiff/cli/_common.py).

Every CLI error exits 2 with one line on stderr, `gendiff <cmd>: …`, that names the option or file; exit 1
is only a negative verdict; never a traceback; nothing half-written and no empty folder left behind.
Each row of CASES is (arguments, expected exit code, a fragment of the message).  {NAME} stands for a
file or folder made by the `files` fixture.
"""
import json
import os
import re
import socket
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gendiff.cli import main
from gendiff.schedules import make_beta, rescale_zero_terminal_snr

COMMANDS = ("derive", "coefficients", "verify-offset", "report", "experiment")
VO = ["verify-offset"]
EXP = ["experiment", "cylinder", "--profile", "smoke", "--dims", "2", "--methods", "base", "--runs-dir", "{runs}",
       "--out", "{tmp}/exp-out"]

CASES = [
    # --- the README's recipe and column selection -----------------------------------------------------------
    (VO + ["--input-coef", "{psi.npy}"], 0, ""),
    (VO + ["--input-coef", "{psi.csv}"], 0, ""),
    (VO + ["--input-coef", "{psi.npy}:psi", "--target-coef", "{psi.csv}:phi"], 0, ""),
    (VO + ["--input-coef", "{psi.npy}:c"], 1, ""),
    (VO + ["--schedule", "{psi.npy}", "--input-coef", "{psi.npy}"], 0, ""),
    (VO + ["--input-coef", "{psi.npy}:nope"], 2, "no column 'nope'"),
    (VO + ["--input-coef", "{plain.txt}:psi"], 2, "plain array"),
    # --- verify-offset: values ------------------------------------------------------------------------------
    (VO + ["--input-coef", "const:0.1", "--rtol", "inf"], 2, "argument --rtol"),
    (VO + ["--input-coef", "const:0.1", "--rtol", "1"], 2, "argument --rtol"),
    (VO + ["--input-coef", "const:0.1", "--rtol", "0"], 2, "argument --rtol"),
    (VO + ["--input-coef", "const:0.1", "--rtol", "nan"], 2, "argument --rtol"),
    (VO + ["--input-coef", "const:0.1", "--rtol=-1e-9"], 2, "argument --rtol"),
    (VO + ["--input-coef", "const:1e-310"], 2, "smallest normal float64"),
    (VO + ["--input-coef", "const:1e-320", "--target-coef", "const:0.1"], 2, "--input-coef[t=1]"),
    (VO + ["--input-coef", "const:0.1", "--target-coef", "const:5e-324"], 2, "--target-coef[t=1]"),
    (VO + ["--input-coef", "const:1e300"], 1, ""),
    (VO + ["--input-coef", "const:0"], 0, ""),
    (VO + ["--input-coef", "const:abc"], 2, "const:W"),
    (VO + ["--input-coef", "const:"], 2, "const:W"),
    (VO + ["--input-coef", "const:nan"], 2, "not finite"),
    (VO + ["--input-coef", "const:-inf"], 2, "not finite"),
    (VO + ["--input-coef", "const:0.1", "--sigma0", "1e-200"], 2, "argument --sigma0"),
    (VO + ["--input-coef", "const:0.1", "--sigma0", "-1"], 2, "argument --sigma0"),
    (VO + ["--input-coef", "const:0.1", "--T", "0"], 2, "argument --T"),
    (VO + ["--input-coef", "const:0.1", "--T", "100000"], 2, "underflows"),
    (VO + ["--input-coef", "const:0.1", "--schedule", "{zsnr.npy}"], 2, "zero terminal SNR"),
    (VO + ["--input-coef", "const:0.1", "--schedule", "{psi.npy}", "--T", "50"], 2, "contradicts --schedule"),
    (VO + ["--input-coef", "const:0.1", "--schedule", "quadratic"], 2, "unknown schedule"),
    (VO + ["--input-coef", "const:0.1", "--schedule", "{beta2d.txt}"], 2, "shape (2, 3)"),
    (VO, 2, "required: --input-coef"),
    # --- verify-offset: files -------------------------------------------------------------------------------
    (VO + ["--input-coef", "{missing.npy}"], 2, "no such file"),
    (VO + ["--input-coef", "{folder.npy}"], 2, "not a regular file"),
    (VO + ["--input-coef", "{mat.npy}"], 2, "shape (4, 250)"),
    (VO + ["--input-coef", "{beta2d.txt}"], 2, "shape (2, 3)"),
    (VO + ["--input-coef", "{complex.npy}"], 2, "complex128"),
    (VO + ["--input-coef", "{bool.npy}"], 2, "bool"),
    (VO + ["--input-coef", "{len3.txt}", "--T", "10"], 2, "--input-coef has 3 entries"),
    (VO + ["--input-coef", "{empty.txt}"], 2, "no numbers"),
    (VO + ["--input-coef", "{header.csv}"], 2, "no rows"),
    (VO + ["--input-coef", "{words.csv}"], 2, "is not a real number"),
    (VO + ["--input-coef", "{ragged.csv}"], 2, "different numbers of entries"),
    (VO + ["--input-coef", "{garbage.npy}"], 2, "cannot read"),
    (VO + ["--input-coef", "{psi.json}"], 0, ""),             # every format `coefficients` writes reads back
    (VO + ["--input-coef", "{tmp}/psi.yaml"], 2, "use a .npy, .csv, .txt or .json file"),
    (VO + ["--T", "1", "--input-coef", "const:0.3"], 0, ""),
    (VO + ["--T", "2", "--input-coef", "const:0.3"], 1, ""),
    # --- coefficients ---------------------------------------------------------------------------------------
    (["coefficients", "--format", "npy", "--out", "{tmp}/ok.npy"], 0, ""),
    (["coefficients", "--schedule", "cosine", "--T", "1", "--format", "json"], 0, ""),
    (["coefficients", "--out", "{folder.npy}"], 2, "is a folder"),
    (["coefficients", "--out", "{plain.txt}/x.csv"], 2, "is a file"),
    (["coefficients", "--out", ""], 2, "--out"),
    (["coefficients", "--T", "0"], 2, "argument --T"),
    (["coefficients", "--T", "-5"], 2, "argument --T"),
    (["coefficients", "--T", "1e3"], 2, "argument --T"),
    (["coefficients", "--T", "2000000"], 2, "1..1000000"),
    (["coefficients", "--T", "100000"], 2, "underflows float64"),
    (["coefficients", "--T", "100000", "--gamma", "zero", "--columns", "t,beta", "--out", "{tmp}/long.csv"], 0, ""),
    (["coefficients", "--schedule", "{zsnr.npy}"], 2, "--gamma balanced"),
    (["coefficients", "--schedule", "{zsnr.npy}", "--gamma", "zero"], 2, "column lam is inf at t = 50"),
    (["coefficients", "--schedule", "{zsnr.npy}", "--gamma", "zero", "--columns", "t,beta,lam_v,psi",
      "--format", "json"], 0, ""),
    (["coefficients", "--sigma0", "1e-200"], 2, "argument --sigma0"),
    (["coefficients", "--sigma0", "1e200"], 2, "argument --sigma0"),
    (["coefficients", "--sigma0", "0"], 2, "argument --sigma0"),
    (["coefficients", "--sigma0", "nan"], 2, "argument --sigma0"),
    (["coefficients", "--sigma0", "inf"], 2, "argument --sigma0"),
    (["coefficients", "--offset-w", "0.1", "--gamma", "zero"], 2, "exclude each other"),
    (["coefficients", "--offset-w", "0.1", "--gamma", "balanced"], 2, "exclude each other"),
    (["coefficients", "--offset-w", "nan"], 2, "argument --offset-w"),
    (["coefficients", "--offset-w", "inf"], 2, "argument --offset-w"),
    (["coefficients", "--schedule", "{psi.npy}", "--T", "50"], 2, "contradicts --schedule"),
    (["coefficients", "--schedule", "{psi.npy}", "--T", "1000", "--gamma", "zero"], 0, ""),
    (["coefficients", "--schedule", "nope"], 2, "unknown schedule"),
    (["coefficients", "--schedule", "{missing.npy}"], 2, "no such file"),
    (["coefficients", "--schedule", "{complex.npy}"], 2, "only real numbers"),
    (["coefficients", "--schedule", "{psi.npy}:nope"], 2, "no column 'nope'"),
    (["coefficients", "--schedule", "{bad_beta.txt}"], 2, "outside (0, 1]"),
    (["coefficients", "--format", "xml"], 2, "invalid choice"),
    (["coefficients", "--columns", ""], 2, "argument --columns"),
    (["coefficients", "--columns", "psi,,phi"], 2, "argument --columns"),
    (["coefficients", "--columns", "psi,nope"], 2, "columns must be"),
    (["coefficients", "--variance", "big"], 2, "invalid choice"),
    (["coefficients", "--gamma", "sometimes"], 2, "invalid choice"),
    # --- derive and report (checked before any proof runs) --------------------------------------------------
    (["derive", "--check", "--json", "{tmp}/d.json"], 2, "add --prove"),
    (["derive", "--emit", "--json", "{tmp}/d.json"], 2, "add --prove"),
    (["derive", "--json", "{folder.npy}"], 2, "is a folder"),
    (["derive", "--json", "{plain.txt}/d.json"], 2, "is a file"),
    (["derive", "--json", ""], 2, "--json"),
    (["report", "--out", "{plain.txt}"], 2, "is a file"),
    (["report", "--out", "{plain.txt}/sub"], 2, "is a file"),
    (["report", "--out", ""], 2, "argument --out"),
    # --- experiment (all refused before the first job) ------------------------------------------------------
    (EXP + ["--device", "foo"], 2, "unknown device 'foo'"),
    (EXP + ["--device", "mps"], 2, "not supported"),
    (EXP + ["--device", "cuda:99"], 2, "cuda:99"),
    (EXP + ["--device", ""], 2, "argument --device"),
    (EXP + ["--methods", ""], 2, "argument --methods"),
    (EXP + ["--methods", "magic"], 2, "unknown method"),
    (EXP + ["--methods", "base,base"], 2, "without repeats"),
    (EXP + ["--methods", "offset-wx"], 2, "offset-wx"),
    (EXP + ["--dims", ""], 2, "argument --dims"),
    (EXP + ["--dims", "0,2"], 2, "argument --dims"),
    (EXP + ["--dims", "2,,3"], 2, "argument --dims"),
    (EXP + ["--dims", "two"], 2, "argument --dims"),
    (EXP + ["--seeds", "0"], 2, "argument --seeds"),
    (EXP + ["--seeds", "x"], 2, "argument --seeds"),
    (EXP + ["--seeds", "1.5"], 2, "argument --seeds"),
    (EXP + ["--out", ""], 2, "argument --out"),
    (EXP + ["--out", "{plain.txt}"], 2, "is a file"),
    (EXP + ["--out", "{plain.txt}/sub"], 2, "is a file"),
    (EXP + ["--runs-dir", ""], 2, "argument --runs-dir"),
    (EXP + ["--runs-dir", "{plain.txt}"], 2, "is a file"),
    (EXP + ["--shard", "2/2"], 2, "argument --shard"),
    (EXP + ["--shard", "x"], 2, "argument --shard"),
    (EXP + ["--shard", "0/2"], 2, "--out with --shard"),
    (EXP + ["--profile", "huge"], 2, "invalid choice"),
    (["experiment", "mnist"], 2, "invalid choice"),
    (EXP + ["--runs-dir", "{corrupt_result}"], 2, "result.json"),
    (EXP + ["--runs-dir", "{incomplete_result}"], 2, "missing"),
    (EXP + ["--runs-dir", "{corrupt_ckpt}"], 2, "ckpt.pt"),
    # --- one format rule: the suffix names the format; every format written reads back ------------------------
    (VO + ["--input-coef", "{psi.json}", "--target-coef", "{psi.json}:phi", "--schedule", "{psi.json}"], 0, ""),
    (VO + ["--input-coef", "{psi.txt}", "--target-coef", "{psi.npy}", "--schedule", "{psi.csv}"], 0, ""),
    (["coefficients", "--schedule", "{psi.json}", "--T", "1000", "--columns", "t,beta"], 0, ""),
    (VO + ["--input-coef", "{bom.csv}"], 0, ""),                        # Excel's "CSV UTF-8" byte-order mark
    (VO + ["--schedule", "{bom.csv}", "--input-coef", "const:0"], 0, ""),
    (VO + ["--input-coef", "{csv_as.npy}"], 2, "it is not a .npy file: it holds text"),
    (VO + ["--input-coef", "{npy_as.csv}"], 2, "it holds a .npy array, not .csv text"),
    (VO + ["--input-coef", "{npy_as.json}"], 2, "not .json text"),
    (VO + ["--input-coef", "{json_as.csv}"], 2, "name the file .json"),
    (VO + ["--input-coef", "{pickle.npy}"], 2, "pickled data"),
    (VO + ["--input-coef", "{bad.json}"], 2, "not valid JSON"),
    (VO + ["--input-coef", "{nan.json}"], 2, "holds NaN"),
    (VO + ["--input-coef", "{ragged.json}"], 2, "different lengths"),
    (VO + ["--input-coef", "{latin1.csv}"], 2, "not UTF-8 text"),
    (VO + ["--input-coef", "{sl.npy}"], 2, "made for another schedule"),
    (VO + ["--input-coef", "{sl.npy}"], 2, "--schedule linear (T = 1000, β_1 = 0.0001"),
    (VO + ["--input-coef", "const:0.1", "--target-coef", "{sl.npy}"], 2, "--target-coef"),
    (VO + ["--input-coef", "{sl.npy}", "--schedule", "scaled_linear"], 0, ""),
    (VO + ["--input-coef", "{sl.npy}", "--schedule", "{sl.npy}"], 0, ""),
    (VO + ["--input-coef", "{psi.npy}", "--T", "500"], 2, "made for another schedule"),
    (["coefficients", "--out", "{tmp}/fmt.npy", "--format", "csv"], 2, "names a npy file, but --format csv"),
    (["coefficients", "--out", "{tmp}/fmt.csv", "--format", "json"], 2, "names a csv file"),
    (["coefficients", "--out", "{tmp}/fmt.dat"], 2, "names no format"),
    (["coefficients", "--out", "{tmp}/fmt", "--format", "csv"], 2, "names no format"),
    (["coefficients", "--T", "3", "--out", "-", "--format", "json"], 0, ""),
    # --- writes that never destroy (see also test_special_files_are_never_replaced) --------------------------
    (["coefficients", "--out", "{fifo}"], 2, "is a FIFO (named pipe), not a regular file"),
    (["coefficients", "--out", "{socket}"], 2, "is a socket"),
    (["coefficients", "--out", "{link_to_folder}"], 2, "is a folder"),
    (["derive", "--json", "{fifo}"], 2, "--json"),
    (["coefficients", "--out", "{loop}"], 2, "Too many levels of symbolic links"),
    (["coefficients", "--out", "{tmp}/" + "z" * 300 + ".csv"], 2, "File name too long"),
    (VO + ["--input-coef", "const:0.1", "--suggest-out", "{fifo}"], 2, "--suggest-out"),
    (VO + ["--input-coef", "const:0.1", "--suggest-out", "{tmp}/s.dat"], 2, "names no format"),
    (VO + ["--input-coef", "const:0.1", "--suggest-out", "{folder.npy}"], 2, "is a folder"),
    # --- verify-offset: what the user probably meant --------------------------------------------------------
    (VO + ["--input-coef", "0.1"], 2, "did you mean const:0.1"),
    (VO + ["--input-coef", "CONST:0.1"], 2, "did you mean const:0.1"),
    (VO + ["--input-coef", "const:0.1", "--target-coef", "-0.05"], 2, "did you mean const:-0.05"),
    (VO + ["--input-coef", "const:0.1", "--schedule", "x" * 300], 2, "unknown schedule"),
    (VO + ["--input-coef", "{tmp}/" + "y" * 300 + ".npy"], 2, "--input-coef"),
    # --- schedule options shared by every command that takes --schedule -------------------------------------
    (["coefficients", "--schedule", "scaled_linear", "--beta-start", "0.001", "--beta-end", "0.02", "--T", "10"], 0, ""),
    (["coefficients", "--schedule", "cosine", "--beta-start", "0.001"], 2, "--beta-start sets the β range"),
    (["coefficients", "--schedule", "{psi.npy}", "--beta-end", "0.03"], 2, "--beta-end sets the β range"),
    (["coefficients", "--beta-start", "0"], 2, "argument --beta-start"),
    (["coefficients", "--beta-end", "1.5"], 2, "argument --beta-end"),
    (["coefficients", "--beta-end", "nan"], 2, "argument --beta-end"),
    (["coefficients", "--beta-start", "1", "--beta-end", "1"], 2, "only β_T may be 1"),
    (["coefficients", "--zero-snr"], 2, "--gamma balanced"),
    (["coefficients", "--zero-snr", "--gamma", "zero", "--columns", "t,beta,lam_v", "--T", "20"], 0, ""),
    (VO + ["--input-coef", "const:0.1", "--zero-snr"], 2, "zero terminal SNR"),
    (VO + ["--input-coef", "const:0.1", "--beta-end", "0.03", "--T", "50"], 1, ""),
    (VO + ["--input-coef", "const:0.1", "--schedule", "cosine", "--beta-end", "0.03"], 2, "--beta-end"),
    # --- the parser itself ----------------------------------------------------------------------------------
    (["--version"], 0, ""),
    ([], 2, "required"),
    (["frobnicate"], 2, "invalid choice"),
    (["coefficients", "--frobnicate"], 2, "unrecognized arguments"),
]
if torch.cuda.is_available():
    CASES = [c for c in CASES if "cuda:99" not in c[0]]
else:
    CASES.append((EXP + ["--device", "cuda"], 2, "CUDA is not available"))


def make_run(root: Path, **files) -> Path:
    """A runs folder whose first smoke job (base, n = 2, seed 0) holds the given files."""
    d = root / "cylinder" / "smoke" / "base" / "n2" / "s0"
    d.mkdir(parents=True)
    for name, data in files.items():
        (d / name.replace("_", ".")).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input")
    f = {"tmp": str(tmp)}

    def add(name, writer):
        p = tmp / name
        writer(p)
        f[name] = str(p)
    assert main(["coefficients", "--format", "npy", "--out", str(tmp / "psi.npy")]) == 0
    assert main(["coefficients", "--format", "csv", "--out", str(tmp / "psi.csv")]) == 0
    assert main(["coefficients", "--format", "json", "--out", str(tmp / "psi.json")]) == 0
    assert main(["coefficients", "--out", str(tmp / "psi.txt")]) == 0
    assert main(["coefficients", "--schedule", "scaled_linear", "--out", str(tmp / "sl.npy")]) == 0
    f.update({k: str(tmp / k) for k in ("psi.npy", "psi.csv", "psi.json", "psi.txt", "sl.npy")})
    assert main(["coefficients", "--columns", "psi,beta,phi", "--out", str(tmp / "cols.csv")]) == 0
    add("bom.csv", lambda p: p.write_bytes(b"\xef\xbb\xbf" + (tmp / "cols.csv").read_bytes()))   # psi first
    add("csv_as.npy", lambda p: p.write_bytes((tmp / "psi.csv").read_bytes()))
    add("npy_as.csv", lambda p: p.write_bytes((tmp / "psi.npy").read_bytes()))
    add("npy_as.json", lambda p: p.write_bytes((tmp / "psi.npy").read_bytes()))
    add("json_as.csv", lambda p: p.write_bytes((tmp / "psi.json").read_bytes()))
    add("pickle.npy", lambda p: np.save(p, np.array([{"psi": 1}], dtype=object), allow_pickle=True))
    add("bad.json", lambda p: p.write_text('{"psi": [0.1, '))
    add("nan.json", lambda p: p.write_text('{"psi": [NaN]}'))
    add("ragged.json", lambda p: p.write_text('{"psi": [0.1], "phi": [0.1, 0.2]}'))
    add("latin1.csv", lambda p: p.write_bytes("psi\n0.1\n# \xe9t\xe9\n".encode("latin-1")))
    add("fifo", os.mkfifo)
    add("link_to_folder", lambda p: p.symlink_to(tmp))
    add("loop", lambda p: p.symlink_to(p))

    def bind(p):
        f["_sock"] = socket.socket(socket.AF_UNIX)
        f["_sock"].bind(str(p))
    add("socket", bind)
    add("plain.txt", lambda p: np.savetxt(p, np.full(1000, 0.1)))
    add("zsnr.npy", lambda p: np.save(p, rescale_zero_terminal_snr(make_beta("linear", 50)).numpy()))
    add("beta2d.txt", lambda p: p.write_text("0.1 0.2 0.3\n0.1 0.2 0.3\n"))
    add("mat.npy", lambda p: np.save(p, np.full((4, 250), 0.1)))
    add("complex.npy", lambda p: np.save(p, np.full(1000, 0.1 + 0.2j)))
    add("bool.npy", lambda p: np.save(p, np.ones(1000, dtype=bool)))
    add("len3.txt", lambda p: p.write_text("0.1\n0.2\n0.3\n"))
    add("empty.txt", lambda p: p.write_text("\n# nothing\n"))
    add("header.csv", lambda p: p.write_text("t,psi\n"))
    add("words.csv", lambda p: p.write_text("0.1, abc\n"))
    add("ragged.csv", lambda p: p.write_text("0.1,0.2\n0.3\n"))
    add("garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"))
    add("bad_beta.txt", lambda p: p.write_text("0.1\n1.5\n"))
    add("folder.npy", lambda p: p.mkdir())
    f["missing.npy"] = str(tmp / "missing.npy")
    f["runs"] = str(tmp / "runs")
    f["corrupt_result"] = str(make_run(tmp / "runs-corrupt-result", result_json=b'{"method": "base", "n": '))
    f["incomplete_result"] = str(make_run(tmp / "runs-incomplete-result", result_json=b'{"method": "base"}'))
    f["corrupt_ckpt"] = str(make_run(tmp / "runs-corrupt-ckpt", ckpt_pt=b"not a checkpoint"))
    yield f
    f["_sock"].close()


def fill(argv, files):
    return [re.sub(r"\{([^}]+)\}", lambda m: files[m.group(1)], a) for a in argv]


def folders(root: Path) -> set:
    return {p for p in Path(root).rglob("*") if p.is_dir()}


@pytest.mark.parametrize("argv,code,fragment", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input(argv, code, fragment, files, capsys, monkeypatch):
    monkeypatch.chdir(files["tmp"])                               # a file a case writes by mistake lands there
    before = folders(files["tmp"])
    got = main(fill(argv, files))
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err                  # one line
        assert err.startswith(f"gendiff {argv[0]}:" if argv and argv[0] in COMMANDS else "gendiff:") \
            or "unrecognized arguments" in err, err
        assert fragment in err, err
    assert folders(files["tmp"]) - before == set(), "a failed command left folders behind"
    assert not (Path(files["tmp"]) / "-").exists(), "--out - must write to stdout"


def test_case_count():
    assert len(CASES) >= 100


def test_strict_json_output(files, capsys):
    """No Infinity or NaN in JSON: values that would overflow are refused; huge finite ones stay numbers."""
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert main(["verify-offset", "--input-coef", "const:1e300", "--json"]) == 1
    d = strict(capsys.readouterr().out)
    assert d["verdict"] == "inconsistent" and abs(d["max_rel_mismatch"] - 0.499) < 1e-3
    assert main(["coefficients", "--schedule", files["zsnr.npy"], "--gamma", "zero", "--columns", "t,lam_v,psi",
                 "--format", "json"]) == 0
    d = strict(capsys.readouterr().out)
    assert d["lam_v"][-1] > 0 and len(d["t"]) == 50


def test_offset_export_is_consistent(files, capsys):
    """`coefficients --offset-w` exports c_t = w √(1-ᾱ_t), the ξ-coefficient of its input noise, next to ψ = w."""
    assert main(["coefficients", "--offset-w", "0.1", "--T", "10", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["psi"] == [0.1] * 10
    assert np.allclose(d["c"], 0.1 * np.sqrt(1 - np.array(d["alpha_bar"])), rtol=1e-12)


def test_failed_write_leaves_no_file(files, capsys, monkeypatch):
    """A write that fails after the checks (disk full, say) is one line, exit 2, and no partial file."""
    from gendiff import io

    def full(*_):
        raise OSError(28, "No space left on device", "x")
    monkeypatch.setattr(io.os, "replace", full)
    out = Path(files["tmp"]) / "new" / "folders" / "never.csv"
    assert main(["coefficients", "--T", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert f"--out {str(out)!r}" in err                          # names the option and the file, not the temp file
    assert not (Path(files["tmp"]) / "new").exists()            # no file, no temp file, no empty folder
    with pytest.raises(OSError) as info:                        # the library names the file asked for, too
        io.write_text_atomic(out, "x")
    assert info.value.filename == str(out) and info.value.errno == 28
    assert not (Path(files["tmp"]) / "new").exists()


def test_internal_error_is_one_line(monkeypatch, capsys):
    """A bug (not bad input) is one line and exit 3; GENDIFF_TRACEBACK=1 re-raises it."""
    import gendiff.coefficients as C

    def boom(*a, **k):
        raise ZeroDivisionError("deliberate")
    monkeypatch.setattr(C, "coefficient_table", boom)
    assert main(["coefficients", "--T", "5"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("gendiff coefficients: internal error: ZeroDivisionError") and err.count("\n") == 1
    monkeypatch.setenv("GENDIFF_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        main(["coefficients", "--T", "5"])


@pytest.mark.parametrize("t", [0, 11, -1])
def test_library_entry_points_check_t(t):
    from gendiff import diffusion as D
    from gendiff.tables import build_tables, extract
    tb = build_tables(make_beta("linear", 10))
    x = torch.randn(3, 2, dtype=torch.float64)
    steps = torch.tensor([1, t, 5])
    calls = [lambda: D.target_eps(x, x, steps, tb), lambda: D.v_from_eps(x, x, steps, tb),
             lambda: D.eps_from_v(x, x, steps, tb), lambda: D.x0_from_v(x, x, steps, tb),
             lambda: D.x0_from_eps(x, x, steps, tb), lambda: D.q_sample(x, steps, x, x, tb),
             lambda: D.q_step(x, steps, x, x, tb), lambda: D.q_posterior(x, x, x, steps, tb),
             lambda: extract(tb.alpha_bar, steps, x)]
    for call in calls:
        with pytest.raises(ValueError, match="1..T = 10"):
            call()


def test_library_entry_points_check_shapes():
    from gendiff import diffusion as D
    from gendiff.tables import build_tables, extract
    tb = build_tables(make_beta("linear", 10))
    x, y = torch.randn(3, 2), torch.randn(3, 4)
    t = torch.tensor([1, 2, 3])
    for call in (lambda: D.target_eps(x, y, t, tb), lambda: D.v_from_eps(x, y, t, tb),
                 lambda: D.eps_from_v(x, y, t, tb), lambda: D.x0_from_v(x, y, t, tb),
                 lambda: D.x0_from_eps(x, y, t, tb)):
        with pytest.raises(ValueError, match="shape mismatch"):
            call()
    with pytest.raises(TypeError, match="integer"):
        extract(tb.beta, t.double(), x)
    from gendiff.losses import training_loss
    from gendiff.xi import Dirac
    with pytest.raises(ValueError, match=r"model output has shape \(3, 1\)"):
        training_loss(lambda x_t, s: x_t[:, :1], x, tb, Dirac())


def test_cli_subprocess_has_no_traceback(files):
    """Through the installed entry point: one line on stderr, exit 2; Ctrl-C during the proofs exits 130."""
    p = subprocess.run([sys.executable, "-m", "gendiff", "coefficients", "--sigma0", "1e200"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--sigma0" in p.stderr
    # A shell runs background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler:
    # give the child the default disposition a terminal's foreground process has.
    proc = subprocess.Popen([sys.executable, "-m", "gendiff", "derive"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().startswith("result")          # the proofs have started
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and err.strip().count("\n") == 0


def test_interrupted_run_leaves_no_empty_folder(tmp_path, monkeypatch):
    """Ctrl-C before a run's first checkpoint removes the folders it created; after one, the checkpoint stays."""
    from gendiff.experiments import runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment("cylinder", "smoke", dims=[2], methods=["base"], out=tmp_path / "out",
                              runs_dir=tmp_path / "runs", device="cpu", progress=False)
    assert list(tmp_path.iterdir()) == []

    def checkpoint_then_interrupt(model, method, data, *, ckpt, **k):
        Path(ckpt).write_bytes(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "train", checkpoint_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment("cylinder", "smoke", dims=[2], methods=["base"], out=tmp_path / "out",
                              runs_dir=tmp_path / "runs", device="cpu", progress=False)
    assert [p.name for p in (tmp_path / "runs").rglob("*") if p.is_file()] == ["ckpt.pt"]
    assert not (tmp_path / "out").exists()



# --- the library's edge: (call, exception type, message fragment) ------------------------------------------
def _lib():
    from gendiff import diffusion as D
    from gendiff.audit import audit
    from gendiff.losses import training_loss
    from gendiff.tables import build_tables, extract
    from gendiff.xi import Brightness, Dirac
    tb = build_tables(make_beta("linear", 10))
    x = torch.randn(8, 3, dtype=torch.float64)
    t = torch.full((8,), 4)
    beta = make_beta("linear", 10)
    return D, audit, training_loss, build_tables, extract, Brightness, Dirac, tb, x, t, beta


D, audit, training_loss, build_tables, extract, Brightness, Dirac, TB, X, T8, BETA = _lib()
LIB_CASES = [
    # t against the batch: no broadcasting, an integer tensor of shape (B,)
    ("q_sample t (1,)", lambda: D.q_sample(X, torch.tensor([4]), X, X, TB), ValueError, "t must have shape (8,)"),
    ("q_sample t 0-d", lambda: D.q_sample(X, torch.tensor(4), X, X, TB), ValueError, "got shape ()"),
    ("q_sample t (3,)", lambda: D.q_sample(X, torch.tensor([1, 2, 3]), X, X, TB), ValueError, "got shape (3,)"),
    ("q_sample t (8,1)", lambda: D.q_sample(X, T8[:, None], X, X, TB), ValueError, "got shape (8, 1)"),
    ("q_sample t float", lambda: D.q_sample(X, T8.double(), X, X, TB), TypeError, "integer (int32 or int64)"),
    ("q_sample t bool", lambda: D.q_sample(X, T8 > 0, X, X, TB), TypeError, "torch.bool tensor"),
    ("q_sample t numpy", lambda: D.q_sample(X, T8.numpy(), X, X, TB), TypeError, "numpy array"),
    ("q_sample t list", lambda: D.q_sample(X, [4] * 8, X, X, TB), TypeError, "got list"),
    ("target_eps t (1,)", lambda: D.target_eps(X, X, torch.tensor([4]), TB), ValueError, "shape (8,)"),
    ("q_posterior t (8,1)", lambda: D.q_posterior(X, X, X, T8[:, None], TB), ValueError, "shape (8, 1)"),
    ("extract t (1,)", lambda: extract(TB.beta, torch.tensor([4]), X), ValueError, "shape (8,)"),
    # integer, boolean and numpy data
    ("q_sample int64 x0", lambda: D.q_sample(X.long(), T8, X.long(), X.long(), TB), TypeError, "x0 must be a floating"),
    ("q_sample int noise", lambda: D.q_sample(X, T8, X.long(), None, TB), TypeError, "noise must be a floating"),
    ("q_sample bool xi", lambda: D.q_sample(X, T8, X, X > 0, TB), TypeError, "xi must be a floating"),
    ("q_sample numpy x0", lambda: D.q_sample(X.numpy(), T8, X, X, TB), TypeError, "torch.from_numpy"),
    ("q_step numpy xi", lambda: D.q_step(X, T8, X, X.numpy(), TB), TypeError, "xi must be a torch.Tensor or None"),
    ("target_eps int", lambda: D.target_eps(X.int(), None, T8, TB), TypeError, "got torch.int32"),
    ("v_from_eps complex", lambda: D.v_from_eps(X.cdouble(), X.cdouble(), T8, TB), TypeError, "floating-point"),
    ("x0 0-d", lambda: D.q_sample(torch.tensor(1.0), T8, X, X, TB), ValueError, "batch dimension"),
    ("tables not Tables", lambda: D.q_sample(X, T8, X, X, {"psi": 1}), TypeError, "tables must be"),
    ("shape mismatch names", lambda: D.q_posterior(X, X[:, :2], None, T8, TB), ValueError, "x0 has shape (8, 2)"),
    ("training_loss numpy", lambda: training_loss(lambda a, b: a, X.numpy(), TB, Dirac()), TypeError, "x0 must be"),
    ("training_loss int", lambda: training_loss(lambda a, b: a, X.long(), TB, Dirac()), TypeError, "floating"),
    # numbers: numpy and torch scalars are numbers; bool, str, arrays are not
    ("sigma0 str", lambda: build_tables(BETA, sigma0="1"), TypeError, "sigma0 must be a real number"),
    ("sigma0 bool", lambda: build_tables(BETA, sigma0=True), TypeError, "got bool True"),
    ("sigma0 complex", lambda: build_tables(BETA, sigma0=torch.tensor(1j)), TypeError, "complex"),
    ("sigma0 array", lambda: build_tables(BETA, sigma0=np.ones(2)), TypeError, "numpy array"),
    ("sigma0 np range", lambda: build_tables(BETA, sigma0=np.float32(0)), ValueError, "sigma0 must be a number in"),
    ("offset_w str", lambda: build_tables(BETA, offset_w="0.1"), TypeError, "offset_w must be a real number"),
    ("make_beta T float", lambda: make_beta("linear", 10.0), TypeError, "T must be an integer, got float"),
    ("make_beta T bool", lambda: make_beta("linear", True), TypeError, "got bool"),
    ("make_beta T np 0", lambda: make_beta("linear", np.int64(0)), ValueError, "T must be an integer >= 1"),
    ("make_beta number", lambda: make_beta(123), TypeError, "schedule must be a name"),
    ("make_beta long name", lambda: make_beta("q" * 300), ValueError, "unknown schedule"),
    ("posterior_mean numpy", lambda: Brightness(sigma_c=1.0).posterior_mean(X.numpy(), 0.5, 1.0), TypeError,
     "e must be a torch.Tensor"),
    ("posterior_mean int", lambda: Brightness(sigma_c=1.0).posterior_mean(X.long(), 0.5, 1.0), TypeError, "floating"),
    ("sigma_c str", lambda: Brightness(sigma_c="1"), TypeError, "sigma_c must be a real number"),
    ("sigma_c np negative", lambda: Brightness(sigma_c=np.float32(-1)), ValueError, "sigma_c must be a finite"),
    ("audit rtol str", lambda: audit(BETA, 0.1, rtol="1e-9"), TypeError, "rtol must be a real number"),
    ("audit coef str", lambda: audit(BETA, "0.1"), TypeError, "input coefficient must be a number"),
    ("audit coef None", lambda: audit(BETA, None), TypeError, "got NoneType"),
    # schedules and γ
    ("build_tables name", lambda: build_tables("linear"), TypeError, "make_beta('linear', T)"),
    ("build_tables path", lambda: build_tables(Path("b.npy")), TypeError, "got the string 'b.npy'"),
    ("build_tables dict", lambda: build_tables({"beta": 1}), TypeError, "beta must be a sequence"),
    ("gamma overflow", lambda: build_tables(BETA, gamma=[1e308] * 10), ValueError, "overflow float64"),
    ("gamma overflow c", lambda: build_tables(BETA, gamma=[1e308] * 10), ValueError, "makes c_t non-finite at t = 2"),
    ("gamma strings", lambda: build_tables(BETA, gamma=["a"] * 10), TypeError, "length-T sequence of real numbers"),
    ("cosine beta_start", lambda: make_beta("cosine", 10, beta_start=0.1), ValueError, "does not apply to the cosine"),
    ("linear max_beta", lambda: make_beta("linear", 10, max_beta=0.5), ValueError, "max_beta does not apply"),
    ("beta_end 0", lambda: make_beta("linear", 10, beta_end=0), ValueError, "beta_end must lie in (0, 1]"),
    ("beta_end str", lambda: make_beta("linear", 10, beta_end="0.1"), TypeError, "beta_end must be a real number"),
    ("array + beta_start", lambda: make_beta([0.1, 0.2], beta_start=0.1), ValueError, "not to a given β array"),
    ("max_beta 0", lambda: make_beta("cosine", 10, max_beta=0.0), ValueError, "max_beta must lie in (0, 1]"),
]


@pytest.mark.parametrize("call,exc,fragment", [c[1:] for c in LIB_CASES], ids=[c[0] for c in LIB_CASES])
def test_library_edge(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_numbers_of_any_kind_are_numbers():
    """numpy and 0-d torch scalars give the same tables as Python numbers (not merely no error)."""
    ref = build_tables(BETA, sigma0=0.5)
    for s0 in (np.float32(0.5), np.float64(0.5), torch.tensor(0.5), torch.tensor(0.5, dtype=torch.float16)):
        assert torch.equal(build_tables(BETA, sigma0=s0).lam, ref.lam)
    assert torch.equal(make_beta("linear", np.int64(10)), BETA)
    assert torch.equal(make_beta("linear", torch.tensor(10)), BETA)
    assert torch.equal(build_tables(BETA, offset_w=np.float32(0.25)).psi, torch.full((10,), 0.25, dtype=torch.float64))
    assert Brightness(sigma_c=np.float32(0.5)).sigma_c == 0.5
    assert audit(BETA, np.float64(0.1), rtol=np.float64(1e-6)).consistent is False


def test_xi_none_means_zero_in_every_function():
    """ξ = None is accepted by every function of gendiff.diffusion and equals ξ = 0 exactly."""
    tb = build_tables(BETA, gamma=torch.full((10,), 0.01))   # ψ, ϕ, γ and C_t all non-zero (balanced has C_t = 0)
    g = torch.Generator().manual_seed(0)
    x, e, t = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g), torch.arange(1, 9)
    z = torch.zeros_like(x)
    xi = torch.randn(8, 3, generator=g)
    assert torch.equal(D.q_sample(x, t, e, None, tb), D.q_sample(x, t, e, z, tb))
    assert torch.equal(D.q_step(x, t, e, None, tb), D.q_step(x, t, e, z, tb))
    assert torch.equal(D.target_eps(e, None, t, tb), D.target_eps(e, z, t, tb))
    for a, b in zip(D.q_posterior(x, e, None, t, tb), D.q_posterior(x, e, z, t, tb)):
        assert torch.equal(a, b)
    for f in (lambda v: D.q_sample(x, t, e, v, tb), lambda v: D.q_step(x, t, e, v, tb),
              lambda v: D.target_eps(e, v, t, tb), lambda v: D.q_posterior(x, e, v, t, tb)[0]):
        assert not torch.allclose(f(None), f(xi))        # ξ is not ignored when it is given


def test_schedule_parameters_match_diffusers():
    """beta_start/beta_end and max_beta give diffusers' schedules (float32 there: 1e-6 relative)."""
    sched = pytest.importorskip("diffusers.schedulers.scheduling_ddpm")
    for name, lo, hi in (("linear", 2e-4, 0.03), ("scaled_linear", 0.001, 0.02)):
        ref = sched.DDPMScheduler(num_train_timesteps=50, beta_schedule=name, beta_start=lo, beta_end=hi).betas
        ours = make_beta(name, 50, beta_start=lo, beta_end=hi)
        assert torch.allclose(ours.float(), ref, rtol=1e-6, atol=0)
        assert ours[0].item() == pytest.approx(lo, rel=1e-12) and ours[-1].item() == pytest.approx(hi, rel=1e-12)
    for cap in (0.999, 0.3):
        ref = sched.betas_for_alpha_bar(50, max_beta=cap)
        assert torch.allclose(make_beta("cosine", 50, max_beta=cap).float(), ref, rtol=1e-5, atol=1e-7)
    assert make_beta("cosine", 50, max_beta=0.3).max().item() == 0.3
    assert torch.equal(make_beta("cosine", 50, max_beta=0.999), make_beta("cosine", 50))


# --- writes that never destroy what they replace --------------------------------------------------------------
def _node(tmp_path, kind):
    p = tmp_path / kind
    try:
        if kind in ("null", "full"):                            # copies of /dev/null and /dev/full
            os.mknod(p, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 3 if kind == "null" else 7))
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "folder":
            p.mkdir()
    except PermissionError:
        pytest.skip(f"creating a {kind} node is not permitted here")
    return p


@pytest.mark.parametrize("kind", ["null", "full", "fifo", "folder"])
@pytest.mark.parametrize("via_link", [False, True])
def test_special_files_are_never_replaced(kind, via_link, tmp_path, capsys):
    """A device (a /dev/full copy included), FIFO or folder, or a link to one: exit 2, one line, node untouched."""
    from gendiff import io
    node = _node(tmp_path, kind)
    target = node
    if via_link:
        target = tmp_path / "link"
        target.symlink_to(node)
    mode = os.stat(node).st_mode
    assert main(["coefficients", "--T", "3", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(target) in err, err
    assert os.stat(node).st_mode == mode and target.is_symlink() == via_link
    if kind != "folder":
        with pytest.raises(io.UnwritableTarget, match="not a regular file"):
            io.write_text_atomic(target, "x")                    # the library refuses it too
        assert os.stat(node).st_mode == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({kind, target.name})   # no temp file


def test_links_are_followed_and_their_target_replaced(tmp_path, capsys):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "sub" / "link.csv"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(real, link.parent))
    assert main(["coefficients", "--T", "3", "--out", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith("t,beta,")
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "new.csv")
    assert main(["coefficients", "--T", "3", "--out", str(dangling)]) == 0
    assert dangling.is_symlink() and (tmp_path / "new.csv").read_text().startswith("t,beta,")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dangling.csv", "link.csv", "new.csv", "real.csv", "sub"]


def test_out_dash_is_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["coefficients", "--T", "3", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("t,beta,alpha") and len(out.splitlines()) == 4
    assert main(["coefficients", "--T", "3", "--out", "-", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["t"] == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []


def test_a_link_to_stdout_is_refused_not_replaced(tmp_path, capsys):
    """A copy of the /dev/stdout link, with stdout a pipe, is refused, pointing to `--out -`; the link stays."""
    r, w = os.pipe()
    try:
        link = tmp_path / "stdout"
        link.symlink_to(f"/proc/self/fd/{w}")
        assert main(["coefficients", "--T", "3", "--out", str(link)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "FIFO" in err and "- for stdout" in err, err
        assert link.is_symlink() and os.stat(link).st_mode == os.fstat(w).st_mode
    finally:
        os.close(r)
        os.close(w)


# --- one format rule ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".txt", ".json", ".npy"])
def test_every_written_format_reads_back(suffix, tmp_path, capsys):
    """The suffix picks the format; the file is then usable as --schedule, --input-coef and --target-coef."""
    f = str(tmp_path / ("t" + suffix))
    assert main(["coefficients", "--schedule", "cosine", "--T", "50", "--out", f]) == 0
    raw = Path(f).read_bytes()
    assert raw.startswith(b"\x93NUMPY") == (suffix == ".npy") and raw.startswith(b"{") == (suffix == ".json")
    assert main(["verify-offset", "--schedule", f, "--input-coef", f, "--target-coef", f]) == 0
    assert "consistent" in capsys.readouterr().out
    from gendiff.schedules import read_column
    for col in ("beta", "psi", "phi", "lam"):
        ref = build_tables(make_beta("cosine", 50)).as_dict()[col]
        assert torch.equal(read_column(f"{f}:{col}")[0], ref), col                # exact round trip


def test_beta_column_must_match_the_schedule(files, capsys):
    assert main(["verify-offset", "--input-coef", files["sl.npy"]]) == 2
    err = capsys.readouterr().err
    assert "β_1 = 0.00085" in err and "--schedule linear (T = 1000, β_1 = 0.0001" in err
    assert main(["verify-offset", "--schedule", "scaled_linear", "--input-coef", files["sl.npy"]]) == 0
    assert main(["verify-offset", "--schedule", "scaled_linear", "--beta-end", "0.0121",
                 "--input-coef", files["sl.npy"]]) == 2                             # a 1 % change in β_T is seen


# --- verify-offset: what to use instead ----------------------------------------------------------------------
def test_suggestions_are_consistent_alternatives(tmp_path, capsys):
    """Both suggested pairs pass the audit; the input is kept in (1), c_T is kept in (2)."""
    s = str(tmp_path / "s.csv")
    assert main(["verify-offset", "--input-coef", "const:0.1", "--T", "100", "--suggest-out", s]) == 1
    out = capsys.readouterr().out
    c_T = re.search(r"c_T = ([0-9.]+)", out).group(1)             # 0.1 √(1-ᾱ_T) = 0.079777 for T = 100
    assert "consistent alternatives" in out and c_T == "0.079777"
    assert main(["verify-offset", "--T", "100", "--input-coef", s, "--target-coef", s]) == 0       # psi, phi
    out = capsys.readouterr().out
    assert f"c_T = {c_T} (not normalised" in out
    assert main(["verify-offset", "--T", "100", "--input-coef", s + ":psi_balanced",
                 "--target-coef", s + ":phi_balanced"]) == 0
    out = capsys.readouterr().out
    assert f"c_T = {c_T} (" in out and f"balanced schedule up to a factor {c_T}" in out
    from gendiff.schedules import read_column
    assert torch.allclose(read_column(s + ":psi")[0], torch.full((100,), 0.1, dtype=torch.float64))
    assert main(["verify-offset", "--input-coef", "const:0.1", "--T", "100"]) == 1
    assert "--suggest-out FILE" in capsys.readouterr().out


# --- locale, help, version, hypothesis profile ----------------------------------------------------------------
@pytest.mark.parametrize("argv,code", [(["verify-offset", "--input-coef", "const:0.1", "--T", "20"], 1),
                                        (["coefficients", "--sigma0", "1e300"], 2), (["coefficients", "--help"], 0)])
def test_streams_that_cannot_encode_greek_get_ascii_names(argv, code, monkeypatch):
    """stdout/stderr in ASCII (PYTHONIOENCODING=ascii, a POSIX locale): ASCII names, no UnicodeEncodeError."""
    import io as _io
    out, err = (_io.TextIOWrapper(_io.BytesIO(), encoding="ascii") for _ in range(2))
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main(argv) == code
    text = {}
    for k, stream in (("out", out), ("err", err)):
        stream.flush()
        text[k] = stream.buffer.getvalue().decode("ascii")           # nothing but ASCII reached the stream
    if code == 1:
        assert "xi-coefficient of E[x_T|x_0,xi]" in text["out"] and "sigma0^2 I" in text["out"]
        assert "implied gamma_t" in text["out"] and "psi_t = phi_t = c_T psi^bal_t" in text["out"]
    elif code == 2:
        assert "(sigma_0^2 and the ELBO weights" in text["err"] and text["err"].count("\n") == 1
    else:
        assert "alpha_bar_T = 0" in text["out"]


def test_posix_locale_end_to_end():
    """The same through the entry point under LC_ALL=POSIX PYTHONUTF8=0 (the process's own stream set-up)."""
    e = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LANG", "LC_CTYPE", "PYTHONIOENCODING")}
    p = subprocess.run([sys.executable, "-m", "gendiff", "verify-offset", "--input-coef", "const:0.1", "--T", "20"],
                       capture_output=True, env={**e, "LC_ALL": "POSIX", "PYTHONUTF8": "0"}, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr.decode("utf-8", "replace") and b"implied" in p.stdout


def test_help_has_text_for_every_option_and_no_rest_markup(capsys):
    from gendiff.cli import build_parser
    parser = build_parser()
    subs = next(a for a in parser._actions if a.choices and "derive" in a.choices).choices
    for name in ("derive", "coefficients", "verify-offset"):
        for a in subs[name]._actions:
            assert a.help, f"gendiff {name} {a.option_strings}: no help text"
    for argv in ([], ["derive"], ["coefficients"], ["verify-offset"]):
        assert main(argv + ["--help"]) == 0
        text = capsys.readouterr().out
        assert "``" not in text and text.startswith("usage: gendiff")


def test_version(capsys):
    from gendiff import __version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"gendiff {__version__}\n"


def test_unknown_hypothesis_profile_is_one_clear_error(monkeypatch):
    """tests/conftest.py stops the run with pytest.UsageError (pytest prints it as one `ERROR:` line)."""
    from tests import conftest
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "bogus")
    with pytest.raises(pytest.UsageError, match=r"HYPOTHESIS_PROFILE='bogus' .* use one of ci, dev, thorough"):
        conftest.pytest_configure(None)
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "dev")
    conftest.pytest_configure(None)


def test_docs_links_stay_inside_the_repository():
    root = Path(__file__).resolve().parent.parent
    for doc in (root / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)]+)\)", doc.read_text()):
            if not target.startswith(("http://", "https://", "#")):
                assert (doc.parent / target).resolve().is_relative_to(root), f"{doc.name}: {target}"
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"
        assert "../shared" not in doc.read_text()
