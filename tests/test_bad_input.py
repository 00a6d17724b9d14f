"""The command line's policy for bad input, case by case (see gendiff/cli/_common.py).

Every CLI error exits 2 with one line on stderr, `gendiff <cmd>: …`, that names the option or file; exit 1
is only a negative verdict; never a traceback; nothing half-written and no empty folder left behind.
Each row of CASES is (arguments, expected exit code, a fragment of the message).  {NAME} stands for a
file or folder made by the `files` fixture.
"""
import json
import re
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
    # --- the parser itself ----------------------------------------------------------------------------------
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
    f.update({k: str(tmp / k) for k in ("psi.npy", "psi.csv", "psi.json")})
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
    return f


def fill(argv, files):
    return [re.sub(r"\{([^}]+)\}", lambda m: files[m.group(1)], a) for a in argv]


def folders(root: Path) -> set:
    return {p for p in Path(root).rglob("*") if p.is_dir()}


@pytest.mark.parametrize("argv,code,fragment", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input(argv, code, fragment, files, capsys):
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
    assert not (Path(files["tmp"]) / "new").exists()            # no file, no temp file, no empty folder


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

