"""The regime experiment: when does the start mismatch of the brightness coordinate show? [result 'start_mismatch']

A grid of data set (cylinder, gaussian) × β schedule (linear, scaled_linear, cosine) × n, with each method of
core `gendiff.methods.method_from_spec` sampled by an exact oracle (`oracle-<method>`: the empirical training
set's optimal denoiser for cylinder, the closed-form Gaussian one for gaussian) or by a trained MLP
(profile `regime-trained`).  `base-signal-leak` fits :class:`gendiff.starts.SignalLeak` on the job's training
set and samples from it (`start=`).  Every record carries the schedule, n and the cell's

    r = n · ᾱ_T · Var(L_avg(x_0)) / σ_0²,

with ᾱ_T of the cell's schedule (before zero-SNR rescaling, so all methods of a cell share r) and the data's
exact Var(L_avg(x_0)) (cylinder: b²/3; gaussian: 1ᵀΣ1/n²).  Metrics per sampler (`sampling.score`):
W1(L_avg), W1 in R^n, MMD², and besides `frac_extreme` (P(|L_avg| > 0.8) of the samples), `frac_extreme_data`
(of the held-out data) and `var_ratio` = Var_gen(L_avg) / Var(L_avg(x_0)).

Runs: runs/regime/<profile>/<dataset>/<schedule>/<method>/n<n>/s<seed>/result.json (skipped when present), so
`--shard i/k` workers and resumes share them; a plain run aggregates into reports/experiments/<profile>/
(`regime_results`).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..io import write_text_atomic
from ..methods import method_from_spec
from ..schedules import make_beta
from ..starts import SignalLeak
from .data import gaussian_params, make_split
from .metrics import METRIC_DIGITS, brightness, significant
from .models import MLPDenoiser, build_seeded
from .oracle import BrightnessGaussianOracle, EmpiricalOracle
from .runfiles import make_dirs, read_result, remove_if_empty, write_job_timing
from .sampling import draw, parse, score
from .train import save_state, train

METHODS = ("base", "base-signal-leak", "offset-w0.1", "proposed-sc1", "zero-snr")
EXTREME = 0.8
EXTRA = ("frac_extreme", "frac_extreme_data", "var_ratio")
THREADS = 1     # one torch thread per worker: on the shared 2-core machine more threads cost more (spec.Spec.threads)


@dataclass(frozen=True)
class RegimeProfile:
    datasets: tuple
    schedules: tuple
    dims: tuple
    methods: tuple                # oracle-<m> (exact oracle) or <m> (trained MLP)
    seeds: int
    T: int
    n_gen: int
    n_test: int
    n_train: int                  # the oracle's points / the MLP's training set (and SignalLeak.fit's)
    samplers: tuple               # for every n
    small_n_samplers: tuple = ()  # only for n <= small_n (e.g. ancestral-T where affordable)
    small_n: int = 0
    steps: int = 0                # trained rows: Adam steps, batch
    batch: int = 256
    skip: tuple = ()              # (dataset, n) cells not run (budget)


ORACLES = tuple(f"oracle-{m}" for m in METHODS)
# Budget (two --shard workers on the shared 2-core machine, one torch thread each): the oracles cost two
# (n_gen, ·) × (·, n) products per step (cylinder: n_train points; gaussian: the n × n eigenbasis), so n_gen = 128
# and 256 oracle points; ancestral-1000 only at n = 256; gaussian at n = 4096 is not run (one job measured 134 s
# with n_gen = 500, i.e. about 35 s at 128: 45 jobs would exceed the budget alone).  Times: timings.json of
# reports/experiments/regime.
PROFILES = {
    "regime": RegimeProfile(datasets=("cylinder", "gaussian"), schedules=("linear", "scaled_linear", "cosine"),
                            dims=(256, 1024, 4096), methods=ORACLES, seeds=3, T=1000, n_gen=128, n_test=500,
                            n_train=256, samplers=("ddim-50",), small_n_samplers=("ancestral-1000",), small_n=256,
                            skip=(("gaussian", 4096),)),
    "regime-trained": RegimeProfile(datasets=("cylinder", "gaussian"), schedules=("scaled_linear",),
                                    dims=(1024, 4096), methods=METHODS, seeds=3, T=1000, n_gen=128, n_test=500,
                                    n_train=10000, samplers=("ddim-50",), steps=3000, batch=256),
    # a test of the machinery (seconds)
    "regime-smoke": RegimeProfile(datasets=("cylinder", "gaussian"), schedules=("linear", "scaled_linear"),
                                  dims=(4, 16), methods=ORACLES, seeds=2, T=20, n_gen=64, n_test=64, n_train=64,
                                  samplers=("ddim-5",), small_n_samplers=("ancestral-20",), small_n=4),
}


def data_var(dataset: str, n: int) -> float:
    """Exact Var(L_avg(x_0)): cylinder u ~ U[-1, 1] (b = 1): 1/3; gaussian: 1ᵀΣ1/n²."""
    if dataset == "cylinder":
        return 1.0 / 3.0
    return float(gaussian_params(n)[1].sum()) / n**2


def cell_r(dataset: str, schedule: str, n: int, T: int, sigma0: float = 1.0) -> float:
    ab_T = float(torch.prod(1 - make_beta(schedule, T)))
    return n * ab_T * data_var(dataset, n) / sigma0**2


def samplers_of(prof: RegimeProfile, n: int) -> list[str]:
    return list(prof.samplers) + (list(prof.small_n_samplers) if n <= prof.small_n else [])


def plan(prof: RegimeProfile) -> list[tuple]:
    """(dataset, schedule, n, method, seed) of every job, the smallest n first."""
    return [(d, sch, n, m, s) for n in prof.dims for d in prof.datasets for sch in prof.schedules
            for m in prof.methods for s in range(prof.seeds) if (d, n) not in prof.skip]


def run_dir(root: Path, job) -> Path:
    d, sch, n, m, s = job
    return Path(root) / d / sch / m / f"n{n}" / f"s{s}"


@lru_cache(maxsize=2)
def _gaussian(n: int):
    """(μ, Σ, eigh(Σ)) of the gaussian data at n, once per process."""
    mu, S = gaussian_params(n)
    return mu, S, torch.linalg.eigh(S)


def build(job, prof: RegimeProfile, device):
    """(method, model, dtype): the method (base-signal-leak fitted on the job's training set) and its oracle or
    a (trained, stored) MLP."""
    dataset, schedule, n, cfg, seed = job
    oracle = cfg.startswith("oracle-")
    spec = cfg[7:] if oracle else cfg
    train_x = make_split(dataset, n, "train", prof.n_train)
    leak = SignalLeak.fit(train_x) if spec == "base-signal-leak" else None
    method = method_from_spec(spec, make_beta(schedule, prof.T), leak=leak)
    tables = method.tables.to(device)
    sigma_c = getattr(method.xi_train, "sigma_c", 0.0)
    if oracle and dataset == "gaussian":
        mu, S, eig = _gaussian(n)
        return method, BrightnessGaussianOracle(mu, S, tables, sigma_c=sigma_c, pred="v", eig=eig).to(device), \
            torch.float64
    if oracle:
        return method, EmpiricalOracle(train_x, tables, sigma_c=sigma_c, pred="v").to(device), torch.float64
    return method, None, torch.float32


def _trained(job, prof, d: Path, method, device):
    dataset, _, n, cfg, seed = job
    model = build_seeded(lambda: MLPDenoiser(n), seed, device)
    weights = d / "model.pt"
    if weights.exists():
        model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    else:
        train(model, method, make_split(dataset, n, "train", prof.n_train), steps=prof.steps, batch=prof.batch,
              pred="v", seed=seed, ckpt=d / "ckpt.pt", device=device, progress=False, desc=f"{cfg} n={n} s={seed}")
        save_state(weights, model.state_dict())
    return model.eval()


def extra_scores(x: torch.Tensor, ref: torch.Tensor, var_data: float) -> dict:
    """frac_extreme of the samples and of the held-out data, Var_gen(L_avg)/Var(L_avg(x_0))."""
    L, Lr = brightness(x.double().cpu()), brightness(ref.double())
    return {"frac_extreme": significant(float((L.abs() > EXTREME).double().mean())),
            "frac_extreme_data": significant(float((Lr.abs() > EXTREME).double().mean())),
            "var_ratio": significant(float(L.var()) / var_data)}


def run_job(job, prof: RegimeProfile, root: Path, device) -> dict:
    """Sample and score one job (or read its stored result.json)."""
    d = run_dir(root, job)
    done = d / "result.json"
    if done.exists():
        res = read_result(done, KEYS)
        if all(name in res["samplers"] for name in samplers_of(prof, job[2])):
            return res
        return _run_job(job, prof, d, torch.device(device), previous=res)     # samplers added to the profile
    created = make_dirs(d)
    try:
        return _run_job(job, prof, d, torch.device(device))
    except BaseException:
        remove_if_empty(created)
        raise


KEYS = ("dataset", "schedule", "n", "method", "seed", "r", "data_var", "samplers", "device")


def _run_job(job, prof, d: Path, device, previous=None) -> dict:
    dataset, schedule, n, cfg, seed = job
    t0 = time.perf_counter()
    method, model, dtype = build(job, prof, device)
    if model is None:
        model = _trained(job, prof, d, method, device)
    t_build = time.perf_counter() - t0
    ref = make_split(dataset, n, "test", prof.n_test)[: prof.n_gen]
    var = data_var(dataset, n)
    scores, seconds = dict((previous or {}).get("samplers", {})), {}
    for name in [s for s in samplers_of(prof, n) if s not in scores]:
        t1 = time.perf_counter()
        x = draw(name, model, method, (prof.n_gen, n), pred="v", seed=seed, device=device, dtype=dtype)
        scores[name] = {**score(x, ref, f"{cfg} {dataset} {schedule} n={n} seed={seed} {name}"),
                        **extra_scores(x, ref, var)}
        scores[name].pop("hist_gen")
        seconds[name] = round(time.perf_counter() - t1, 2)
    res = {"dataset": dataset, "schedule": schedule, "n": n, "method": cfg, "seed": seed, "T": prof.T,
           "r": significant(cell_r(dataset, schedule, n, prof.T)), "data_var": significant(var),
           "n_generated": prof.n_gen, "n_test": int(ref.shape[0]), "n_train": prof.n_train,
           "steps": 0 if cfg.startswith("oracle-") else prof.steps, "device": device.type,
           "metric_digits": METRIC_DIGITS, "samplers": scores}
    scores = {k: scores[k] for k in sorted(scores)}
    res["samplers"] = scores
    write_job_timing(d / "timing.json", None if previous is not None else round(t_build, 2), seconds)
    write_text_atomic(d / "result.json", json.dumps(res, sort_keys=True, allow_nan=False) + "\n")
    return res


def check(profile: str) -> RegimeProfile:
    from ..errors import InputError
    if profile not in PROFILES:
        raise InputError(f"profile {profile!r} does not exist for regime: use one of {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    for n in prof.dims:
        for s in samplers_of(prof, n):
            try:
                parse(s, prof.T)
            except ValueError as e:
                raise InputError(str(e)) from None
    return prof


def run_regime(profile: str = "regime", *, out=None, runs_dir="runs", device=None,
               shard: tuple[int, int] = (0, 1), progress: bool = False) -> Path | None:
    """Run (or resume) the profile's jobs i, i+k, ... on the engine's job loop (`runner.run_jobs`); without
    sharding also aggregate into `out`."""
    from .regime_results import write_outputs
    from .runfiles import job_seconds, resolve_device, write_timings
    from .runner import run_jobs
    prof = check(profile)
    device = resolve_device(device)
    jobs = plan(prof)
    root = Path(runs_dir) / "regime" / profile
    t0, c0 = time.perf_counter(), time.process_time()
    records = run_jobs(jobs, lambda job: run_job(job, prof, root, device), shard=shard, threads=THREADS,
                       progress=progress, desc=f"regime {profile} runs")
    if shard[1] > 1:
        return None
    out = Path(out or f"reports/experiments/{profile}")
    write_timings(out, f"gendiff experiment regime --profile {profile}", time.perf_counter() - t0,
                  time.process_time() - c0, *job_seconds(run_dir(root, j) / "timing.json" for j in jobs))
    write_outputs(out, records, profile=profile, prof=prof)
    return out
