"""The regime experiment's plumbing (tiny n, few steps) and the oracles it samples with."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from gendiff.experiments import regime_run
from gendiff.experiments.oracle import BrightnessGaussianOracle, EmpiricalOracle, GaussianOracle
from gendiff.experiments.regime_results import render
from gendiff.methods import method_from_spec
from gendiff.schedules import make_beta
from gendiff.tables import build_tables

SPECS = ("base", "offset-w0.1", "proposed-sc1", "zero-snr")


def _tables(spec, T=30, schedule="scaled_linear"):
    if spec == "custom":                                   # a γ with ψ_t ≠ ϕ_t
        g = torch.linspace(0.05, 0.4, T, dtype=torch.float64)
        return build_tables(make_beta(schedule, T), gamma=g), 0.7
    m = method_from_spec(spec, make_beta(schedule, T))
    return m.tables, getattr(m.xi_train, "sigma_c", 0.0)


@pytest.mark.parametrize("spec", SPECS + ("custom",))
@pytest.mark.parametrize("pred", ["eps", "v"])
def test_brightness_gaussian_oracle_equals_the_matrix_gaussian_oracle(spec, pred):
    """Eigenbasis + Sherman-Morrison against the explicit inverse, at the first, a middle and the last step."""
    tb, sc = _tables(spec)
    if spec == "custom":
        assert (tb.psi - tb.phi).abs().max() > 1e-3
    n = 7
    g = torch.Generator().manual_seed(0)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    S = 0.3 * A @ A.T + 0.1 * torch.eye(n, dtype=torch.float64) + 0.5
    mu = torch.randn(n, generator=g, dtype=torch.float64)
    ref = GaussianOracle(mu, S, sc * sc * torch.ones(n, n, dtype=torch.float64), tb, pred=pred)
    fast = BrightnessGaussianOracle(mu, S, tb, sigma_c=sc, pred=pred)
    x = torch.randn(5, n, generator=g, dtype=torch.float64) * 2
    for step in (1, 13, tb.T):
        t = torch.full((5,), step)
        assert torch.allclose(fast(x, t), ref(x, t), rtol=1e-9, atol=1e-10), (spec, pred, step)


@pytest.mark.parametrize("spec", SPECS + ("custom",))
@pytest.mark.parametrize("pred", ["eps", "v"])
def test_empirical_oracle_of_one_point_is_the_gaussian_oracle_of_a_dirac(spec, pred):
    """One training point x_1: E[· | x_t] equals the Gaussian oracle with μ = x_1, Σ = 0 (ψ ≠ ϕ, c_T ≠ 1 for
    offset, ᾱ_T = 0 with v-prediction for zero-snr)."""
    tb, sc = _tables(spec)
    n = 6
    g = torch.Generator().manual_seed(1)
    p = torch.randn(1, n, generator=g, dtype=torch.float64)
    ref = GaussianOracle(p[0], torch.zeros(n, n, dtype=torch.float64), sc * sc * torch.ones(n, n, dtype=torch.float64),
                         tb, pred=pred)
    emp = EmpiricalOracle(p, tb, sigma_c=sc, pred=pred)
    x = torch.randn(4, n, generator=g, dtype=torch.float64)
    for step in (1, 17, tb.T):
        t = torch.full((4,), step)
        assert torch.allclose(emp(x, t), ref(x, t), rtol=1e-9, atol=1e-10), (spec, pred, step)


def _tiny(**kw):
    base = dict(datasets=("gaussian", "cylinder"), schedules=("scaled_linear",), dims=(32,),
                methods=("oracle-base", "oracle-base-signal-leak", "oracle-zero-snr"), seeds=2, T=20, n_gen=256,
                n_test=256, n_train=128, samplers=("ddim-4",))
    return regime_run.RegimeProfile(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("regime")
    prof = _tiny()
    regime_run.PROFILES["regime-test"] = prof
    try:
        out = regime_run.run_regime("regime-test", out=d / "out", runs_dir=d / "runs", device="cpu")
    finally:
        del regime_run.PROFILES["regime-test"]
    return prof, d, out, json.loads((out / "results.json").read_text())


def test_records_carry_schedule_n_and_r(tiny_run):
    prof, _, _, data = tiny_run
    recs = data["records"]
    assert {(r["dataset"], r["schedule"], r["n"]) for r in recs} == {("gaussian", "scaled_linear", 32),
                                                                      ("cylinder", "scaled_linear", 32)}
    ab_T = float(build_tables(make_beta("scaled_linear", 20), gamma="zero").alpha_bar[-1])   # second route
    for r in recs:
        var = 1 / 3 if r["dataset"] == "cylinder" else None
        if var is None:
            from gendiff.experiments.data import gaussian_params
            var = float(torch.ones(32, dtype=torch.float64) @ gaussian_params(32)[1] @ torch.ones(32,
                                                                                                   dtype=torch.float64)) / 32**2
        assert r["r"] == pytest.approx(32 * ab_T * var, rel=1e-3)
    assert len({(r["method"], r["seed"]) for r in recs}) == 6


def test_signal_leak_start_is_used_and_removes_the_mismatch(tiny_run):
    """At r ≈ 10 (cylinder) and 15 (gaussian) the prior start shrinks Var(L_avg) towards 1/(1+r) (ratio of the starts' variances,
    result 'start_mismatch'); the fitted signal-leak start keeps it near 1.  A sampler that ignored `start`
    would give the leak rows base's values."""
    _, _, _, data = tiny_run
    for ds in ("gaussian", "cylinder"):
        v = {(r["method"], r["seed"]): r["value"] for r in data["records"]
             if r["dataset"] == ds and r["metric"] == "var_ratio"}
        for s in (0, 1):
            assert v[("oracle-base", s)] < 0.35, (ds, v)
            assert 0.5 < v[("oracle-base-signal-leak", s)] < 1.6, (ds, v)
            assert v[("oracle-zero-snr", s)] > v[("oracle-base", s)], (ds, v)        # ᾱ_T = 0 runs and differs


def test_rerender_is_byte_identical_and_resume_skips_finished_jobs(tiny_run):
    prof, d, out, _ = tiny_run
    files = {p: p.read_bytes() for p in [out / "results.md", *sorted((out / "figures").glob("*.png"))]}
    assert len(files) == 2
    render(out)
    assert {p: p.read_bytes() for p in files} == files
    job = regime_run.plan(prof)[0]
    res = regime_run.run_dir(d / "runs" / "regime" / "regime-test", job) / "result.json"
    before = res.read_bytes()
    res.write_text(before.decode().replace('"seed": 0', '"seed": 0, "stored": true'))
    assert regime_run.run_job(job, prof, d / "runs" / "regime" / "regime-test", "cpu").get("stored") is True
    res.write_bytes(before)


def test_shards_cover_every_job_once_and_skip_cells():
    prof = dataclasses.replace(_tiny(), dims=(4, 8), skip=(("gaussian", 8),))
    jobs = regime_run.plan(prof)
    assert sorted(jobs[0::2] + jobs[1::2]) == sorted(jobs) and len(set(jobs)) == len(jobs)
    assert not [j for j in jobs if j[0] == "gaussian" and j[2] == 8]
    assert len(jobs) == 3 * 2 * 3


def test_bad_profile_is_an_input_error():
    from gendiff.errors import InputError
    with pytest.raises(InputError, match="profile 'nope'"):
        regime_run.check("nope")


def test_corrupt_result_names_the_file(tmp_path):
    from gendiff.experiments.runfiles import RunFileError
    prof = _tiny()
    job = regime_run.plan(prof)[0]
    d = regime_run.run_dir(tmp_path, job)
    d.mkdir(parents=True)
    (d / "result.json").write_text('{"dataset": "gaussian"}')
    with pytest.raises(RunFileError, match="result.json.*missing schedule"):
        regime_run.run_job(job, prof, tmp_path, "cpu")


def test_samplers_added_to_the_profile_run_on_the_stored_job(tmp_path):
    prof = _tiny(datasets=("cylinder",), dims=(4,), methods=("oracle-base",), seeds=1, n_gen=32, n_test=32,
                 n_train=32)
    job = regime_run.plan(prof)[0]
    first = regime_run.run_job(job, prof, tmp_path, "cpu")
    more = dataclasses.replace(prof, small_n_samplers=("ancestral-20",), small_n=4)
    second = regime_run.run_job(job, more, tmp_path, "cpu")
    assert sorted(second["samplers"]) == ["ancestral-20", "ddim-4"]
    assert second["samplers"]["ddim-4"] == first["samplers"]["ddim-4"]
    assert regime_run.samplers_of(more, 8) == ["ddim-4"]


def test_trained_rows_train_store_and_reuse_their_weights(tmp_path):
    prof = _tiny(datasets=("cylinder",), dims=(4,), methods=("base-signal-leak",), seeds=1, n_gen=32, n_test=32,
                 n_train=64, steps=3, batch=16)
    job = regime_run.plan(prof)[0]
    res = regime_run.run_job(job, prof, tmp_path, "cpu")
    d = regime_run.run_dir(tmp_path, job)
    assert (d / "model.pt").exists() and res["steps"] == 3 and res["method"] == "base-signal-leak"
    assert regime_run.PROFILES["regime-trained"].methods == regime_run.METHODS


def test_cli_refuses_an_unknown_regime_profile_in_one_line(capsys):
    from gendiff.cli import main
    assert main(["experiment", "regime", "--profile", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nope" in err and "regime-trained" in err


_REGIME_JOBS = '''
import sys
from pathlib import Path
import torch
from gendiff.experiments import regime_run as RR
threads, seed, root = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(seed)
torch.randn(7 * seed + 1)                      # leave the global RNG somewhere else in each process
prof = RR.RegimeProfile(datasets=("cylinder", "gaussian"), schedules=("scaled_linear",), dims=(16,),
                        methods=("base-signal-leak", "oracle-proposed-sc1", "proposed-sc1"), seeds=1, T=20,
                        n_gen=32, n_test=32, n_train=64, samplers=("ddim-5",), steps=20, batch=16)
jobs = RR.plan(prof)
for i in (range(len(jobs)) if sys.argv[4] == "forward" else reversed(range(len(jobs)))):
    RR.run_job(jobs[i], prof, root, "cpu")
'''


def test_a_regime_job_gives_the_same_bytes_whatever_ran_before(tmp_path):
    """The regime's own job function seeds its MLP, training, signal-leak fit and sampler from the job alone: run in
    two fresh processes, in opposite orders (as two shards or a resume would interleave them), after different
    global seeds, on 1 and on 2 threads, every job writes the same result.json and weights."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for k, (threads, seed, order) in enumerate(((1, 1, "forward"), (2, 2, "backward"))):
        subprocess.run([sys.executable, "-c", _REGIME_JOBS, str(threads), str(seed), str(tmp_path / f"r{k}"), order],
                       check=True, env=env, timeout=600)
    files = sorted(p.relative_to(tmp_path / "r0") for p in (tmp_path / "r0").rglob("result.json"))
    assert len(files) == 6
    for f in files:
        assert (tmp_path / "r0" / f).read_bytes() == (tmp_path / "r1" / f).read_bytes(), f
        w = f.parent / "model.pt"
        if (tmp_path / "r0" / w).exists():
            wa, wb = (torch.load(tmp_path / r / w, weights_only=True) for r in ("r0", "r1"))
            assert all(torch.equal(wa[key], wb[key]) for key in wa), w
    assert sum((tmp_path / "r0" / f.parent / "model.pt").exists() for f in files) == 4      # trained rows only
