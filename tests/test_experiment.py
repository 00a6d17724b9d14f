"""Datasets, metrics, the empirical oracle, resumable training and a smoke experiment."""
import json
import math
from pathlib import Path

import pytest
import torch
from scipy import stats

from gendiff.experiments.data import cylinder, make_split
from gendiff.experiments.runner import build_method, run_experiment
from gendiff.methods import make_method
from gendiff.experiments.metrics import mmd, significant, w1, w1_brightness
from gendiff.experiments.models import MLPDenoiser
from gendiff.experiments.oracle import EmpiricalOracle
from gendiff.schedules import make_beta
from gendiff.experiments.train import train


@pytest.mark.parametrize("n", [1, 2, 16, 256])
def test_cylinder_geometry_and_uniform_brightness(n):
    x = cylinder(n, 20000, generator=torch.Generator().manual_seed(n))
    u = x.mean(1)
    # KS test of L_avg ~ U[-1, 1]; false-alarm probability 1e-6
    assert stats.kstest(u.numpy(), stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-6
    if n > 1:
        r = x - u[:, None]
        assert torch.allclose(r.norm(dim=1), torch.full((20000,), 0.5 * math.sqrt(n), dtype=torch.float64))
        assert r.sum(1).abs().max() < 1e-9


def test_splits_are_fixed_and_distinct():
    a, b = make_split("cylinder", 8, "train", 100), make_split("cylinder", 8, "train", 100)
    assert torch.equal(a, b) and not torch.equal(a, make_split("cylinder", 8, "test", 100))
    with pytest.raises(ValueError, match="split"):
        make_split("cylinder", 8, "holdout", 10)


def test_metrics_exact_identities():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g, dtype=torch.float64)
    c = torch.tensor([0.3, -0.2, 0.1, 0.0, 0.5], dtype=torch.float64)
    assert w1(x, x) == 0.0
    assert w1(x, x + c) == pytest.approx(float(c.norm()), rel=1e-12)     # translation: W1 = ‖c‖ exactly
    assert w1_brightness(x, x + c) == pytest.approx(float(c.mean()), rel=1e-12)
    m_same, h = mmd(x, torch.randn(300, 5, generator=g, dtype=torch.float64))
    m_shift, _ = mmd(x, x + 2.0)
    assert h > 0 and abs(m_same) < 0.02 and m_shift > 0.3
    with pytest.raises(ValueError, match="NaN"):
        w1(x, x * float("nan"))
    with pytest.raises(ValueError, match="equal-size"):
        w1(x, x[:10])


def test_empirical_oracle_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    n, M, sc = 3, 7, 0.8
    P = torch.randn(M, n, generator=g, dtype=torch.float64)
    m = make_method("proposed", make_beta("linear", 50), sigma_c=sc)
    x_t = torch.randn(5, n, generator=g, dtype=torch.float64)
    for step in (1, 20, 50):
        t = torch.full((5,), step)
        tb = m.tables
        a, s = tb.alpha_bar[step - 1].sqrt(), tb.one_minus_alpha_bar[step - 1].sqrt()
        psi, phi = tb.psi[step - 1], tb.phi[step - 1]
        Sxi = sc**2 * torch.ones(n, n, dtype=torch.float64)
        C = s**2 * (torch.eye(n, dtype=torch.float64) + psi**2 * Sxi)
        G = s * (torch.eye(n, dtype=torch.float64) + phi * psi * Sxi) @ torch.linalg.inv(C)
        r = x_t[:, None, :] - a * P[None]                                    # (B, M, n)
        logw = -0.5 * torch.einsum("bmi,ij,bmj->bm", r, torch.linalg.inv(C), r)
        w = torch.softmax(logw, 1)
        eta = torch.einsum("bm,bmj->bj", w, r @ G.T)
        x0 = w @ P
        assert torch.allclose(EmpiricalOracle(P, tb, sigma_c=sc, pred="eps")(x_t, t), eta, rtol=1e-9, atol=1e-9)
        assert torch.allclose(EmpiricalOracle(P, tb, sigma_c=sc, pred="v")(x_t, t), a * eta - s * x0,
                              rtol=1e-9, atol=1e-9)


def test_interrupted_training_resumes_exactly(tmp_path):
    m = build_method("proposed-sc1", 50)
    data = make_split("cylinder", 4, "train", 256)

    def fresh():
        torch.manual_seed(0)
        return MLPDenoiser(4)
    full = fresh()
    train(full, m, data, steps=40, batch=32, seed=3, progress=False, log_every=10)
    part = fresh()
    train(part, m, data, steps=20, batch=32, seed=3, ckpt=tmp_path / "c.pt", ckpt_every=10, progress=False, log_every=10)
    resumed = fresh()                          # a new process would rebuild the model from scratch
    train(resumed, m, data, steps=40, batch=32, seed=3, ckpt=tmp_path / "c.pt", ckpt_every=10, progress=False,
          log_every=10)
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_smoke_experiment_and_rerun_skips(tmp_path):
    out = run_experiment("cylinder", "smoke", dims=[2], out=tmp_path / "out", runs_dir=tmp_path / "runs",
                         device="cpu", progress=False)
    d = json.loads((out / "results.json").read_text())
    methods = {r["method"] for r in d["records"]}
    assert {"base", "offset-w0.1", "proposed-sc1", "zero-snr", "oracle-proposed-sc1"} == methods
    assert all(math.isfinite(r["value"]) for r in d["records"])
    assert all(r["value"] == significant(r["value"]) for r in d["records"])       # stored with 4 digits
    st = d["settings"]                                                           # what ran, not the profile
    assert st["dims"] == [2] and st["seeds"] == 1 and st["devices"] == ["cpu"] and set(st["methods"]) == methods
    assert (out / "results.md").read_text().count("| 2 |") == 4
    assert "Device: cpu." in (out / "results.md").read_text()
    for f in ("metrics_vs_n.png", "brightness_hist_n2.png", "training_loss.png"):
        assert (out / "figures" / f).stat().st_size > 1000
    before = (out / "results.json").read_bytes()
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("result.json")}
    run_experiment("cylinder", "smoke", dims=[2], out=tmp_path / "out", runs_dir=tmp_path / "runs", device="cpu",
                   progress=False)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("result.json")} == stamp
    assert (out / "results.json").read_bytes() == before


def test_experiment_cli_rejects_bad_input(capsys):
    from gendiff.cli import main
    from gendiff.cli.experiment import PROFILE_NAMES
    from gendiff.experiments.runner import PROFILES
    assert sorted(PROFILE_NAMES) == sorted(PROFILES)
    assert main(["experiment", "cylinder", "--dims", "0,2"]) == 2
    assert main(["experiment", "cylinder", "--methods", "magic"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_claim_section_verdicts():
    from gendiff.experiments.results import _claim_section

    def recs(m, vals):
        return [{"method": m, "w1_brightness": v, "w1": v, "mmd": v} for v in vals]
    by = {("base", 8): recs("base", [0.30, 0.31, 0.29]), ("proposed-sc1", 8): recs("proposed-sc1", [0.10, 0.11, 0.09]),
          ("base", 16): recs("base", [0.10, 0.11, 0.09]), ("proposed-sc1", 16): recs("proposed-sc1", [0.30, 0.31, 0.29]),
          ("base", 32): recs("base", [0.1, 0.3, 0.2]), ("proposed-sc1", 32): recs("proposed-sc1", [0.2, 0.1, 0.3])}
    rows = [r for r in _claim_section(by, [8, 16, 32]) if r.startswith("| 8 |") or r.startswith("| 16 |")
            or r.startswith("| 32 |")]
    verdicts = {(r.split("|")[1].strip(), r.split("|")[2].strip()): r.rstrip(" |").rsplit("|", 1)[1].strip()
                for r in rows}
    assert verdicts[("8", "w1_brightness")] == "better"
    assert verdicts[("16", "mmd")] == "worse"
    assert verdicts[("32", "w1")] == "not resolved"
    assert _claim_section({("base", 8): recs("base", [0.1])}, [8]) == []     # one seed: no test, no section


def test_results_are_byte_stable_and_stale_figures_go(tmp_path):
    """Metric values that differ in their last bits (another machine, load or thread count) give the same
    bytes; figures of an earlier run into the same folder that this run does not make are removed."""
    from gendiff.experiments.results import write_outputs
    from gendiff.experiments.runner import PROFILES

    def rec(method, n, seed, v):
        return {"method": method, "n": n, "seed": seed, "pred": "v", "device": "cpu", "w1_brightness": v,
                "w1": 2 * v, "mmd": v / 7, "mmd_bandwidth": 1 + v, "n_generated": 4, "n_test": 4, "steps": 1,
                "batch": 1, "T": 10, "n_train": 4, "hist_gen": [1.0] * 50, "hist_data": [1.0] * 50,
                "loss_curve": [(1, 0.5)], "val_curve": []}
    vals = {("base", 2, 0): 0.1234567, ("base", 2, 1): 0.2345678, ("proposed-sc1", 2, 0): 0.0456789,
            ("proposed-sc1", 2, 1): 0.0567891}
    outs = []
    for k, bump in enumerate((0.0, 1e-15)):
        out = tmp_path / f"o{k}"
        (out / "figures").mkdir(parents=True)
        (out / "figures" / "brightness_hist_n999.png").write_bytes(b"stale")
        write_outputs(out, [rec(*key, v * (1 + bump)) for key, v in vals.items()], dataset="cylinder",
                      profile="smoke", prof=PROFILES["smoke"])
        outs.append(out)
        assert not (out / "figures" / "brightness_hist_n999.png").exists()
        assert (out / "figures" / "brightness_hist_n2.png").exists()
    for name in ("results.json", "results.md"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    assert '"value": 0.1235' in (outs[0] / "results.json").read_text()


def test_thread_count_does_not_change_results(tmp_path):
    """Retraining with 1 and 2 threads stores the same metric values (what results.json is made of)."""
    from gendiff.experiments.runner import PROFILES, run_one
    n_threads = torch.get_num_threads()
    runs = []
    try:
        for k in (1, 2):
            torch.set_num_threads(k)
            runs.append(run_one("cylinder", "proposed-sc1", 4, 0, PROFILES["smoke"], tmp_path / f"r{k}",
                                torch.device("cpu"), progress=False))
    finally:
        torch.set_num_threads(n_threads)
    keys = ("w1_brightness", "w1", "mmd", "mmd_bandwidth", "loss_curve", "val_curve", "hist_gen")
    assert [runs[0][k] for k in keys] == [runs[1][k] for k in keys]


_JOBS_SCRIPT = """
import sys, torch
from pathlib import Path
from gendiff.experiments.runner import PROFILES, run_one
threads, global_seed, root = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(global_seed)
torch.rand(global_seed)                       # a different global RNG state in each process
for job in sys.argv[4:]:
    cfg, n = job.split(":")
    run_one("cylinder", cfg, int(n), 0, PROFILES["smoke"], root, torch.device("cpu"), progress=False)
"""


def test_a_job_gives_the_same_bytes_whatever_ran_before(tmp_path):
    """Each job seeds its model, data and sampler from its own seed: run in two fresh processes, in opposite
    orders, after different global seeds, on 1 and on 2 threads, it writes the same result.json and weights."""
    import os
    import subprocess
    import sys
    jobs = ["base:2", "proposed-sc1:2"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for k, (threads, seed, order) in enumerate(((1, 1, jobs), (2, 2, jobs[::-1]))):
        subprocess.run([sys.executable, "-c", _JOBS_SCRIPT, str(threads), str(seed), str(tmp_path / f"r{k}")]
                       + order, check=True, env=env, timeout=600)
    for job in jobs:
        cfg, n = job.split(":")
        a, b = (tmp_path / f"r{k}" / cfg / f"n{n}" / "s0" for k in (0, 1))
        assert (a / "result.json").read_bytes() == (b / "result.json").read_bytes(), job
        wa, wb = (torch.load(d / "model.pt", weights_only=True) for d in (a, b))
        assert all(torch.equal(wa[key], wb[key]) for key in wa), job


def test_experiment_cli_bounds_dims_and_refuses_what_cannot_fit(capsys, monkeypatch, tmp_path):
    from gendiff.cli import main
    from gendiff.experiments import runner
    from gendiff.experiments.runfiles import memory_bytes
    assert main(["experiment", "cylinder", "--dims", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "--dims" in err and "1..1000000" in err and err.count("\n") == 1
    prof = runner.PROFILES["smoke"]
    assert memory_bytes(prof, 65536) > 1.1 * 1439 * 2**20 and memory_bytes(prof, 16384) > 479 * 2**20   # measured
    assert memory_bytes(runner.PROFILES["full"], 512) > memory_bytes(runner.PROFILES["full"], 256)
    monkeypatch.setattr(runner, "available_memory", lambda: memory_bytes(prof, 4) - 1)
    argv = ["experiment", "cylinder", "--profile", "smoke", "--runs-dir", str(tmp_path / "r"), "--out",
            str(tmp_path / "o")]
    assert main(argv + ["--dims", "2,4"]) == 2
    err = capsys.readouterr().err
    assert "--dims: n = 4 needs about" in err and "GiB are available" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()                            # refused before the first job
    monkeypatch.setattr(runner, "available_memory", lambda: None)   # unknown: not refused for memory
    runner.check_memory("smoke", [2])


def _options(parser):
    import argparse
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_experiment_help_offers_only_what_each_data_set_accepts(capsys):
    import argparse

    from gendiff.cli import build_parser, main
    from gendiff.experiments import digits, runner
    assert set(runner.SPECS) == {"cylinder", "gaussian", "digits"}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    datasets = next(a for a in sub.choices["experiment"]._actions if isinstance(a, argparse._SubParsersAction))
    for name, profiles in (("cylinder", runner.PROFILES), ("gaussian", runner.PROFILES), ("digits", digits.PROFILES)):
        p = datasets.choices[name]
        assert next(a for a in _options(p) if a.dest == "profile").choices == list(profiles)
        for a in _options(p):                                       # every option says what it does
            assert a.help and (a.help == argparse.SUPPRESS) == (name == "digits" and a.dest == "dims"), a.dest
        assert main(["experiment", name, "--help"]) == 0
        text = capsys.readouterr().out
        assert "``" not in text and all(f"{k}: " in text for k in profiles)
        assert ("samplers" in text) == (name != "digits") and ("--dims" in text) == (name != "digits")
    for argv in ([], ["experiment"], ["report"], ["derive"], ["coefficients"], ["verify-offset"]):
        assert main(argv + ["--help"]) == 0
        assert "``" not in capsys.readouterr().out, argv


def test_the_schedule_is_an_axis(tmp_path, capsys):
    """--schedule replaces β for every method; records, settings, runs folder, output folder and command say so."""
    from gendiff.cli import main
    from gendiff.experiments.spec import build_method as spec_build
    from gendiff.experiments.spec import default_out
    assert default_out("cylinder", "smoke", "cosine") == "reports/experiments/cylinder-smoke-cosine"
    assert default_out("digits", "full", "linear") == "reports/experiments/digits"
    a, b = spec_build("proposed-sc1", 50), spec_build("proposed-sc1", 50, schedule="cosine")
    assert not torch.allclose(a.tables.alpha_bar, b.tables.alpha_bar)
    assert spec_build("zero-snr", 50, schedule="cosine").tables.alpha_bar[-1] == 0
    out = run_experiment("cylinder", "smoke", dims=[2], methods=["base"], out=tmp_path / "out",
                         runs_dir=tmp_path / "runs", device="cpu", progress=False, schedule="cosine")
    d = json.loads((out / "results.json").read_text())
    assert d["settings"]["schedule"] == "cosine" and {r["schedule"] for r in d["records"]} == {"cosine"}
    assert (tmp_path / "runs" / "cylinder" / "smoke-cosine" / "base" / "n2" / "s0" / "result.json").exists()
    assert "Schedule: cosine." in (out / "results.md").read_text()
    assert json.loads((out / "timings.json").read_text())["command"].endswith("--methods base --schedule cosine")
    assert main(["experiment", "digits", "--schedule", "sigmoid"]) == 2
    assert "argument --schedule" in capsys.readouterr().err
