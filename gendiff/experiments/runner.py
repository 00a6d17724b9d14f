"""Experiments: Base vs offset noise vs proposed vs zero-SNR across dimensions [2412.03134 §5].

`gendiff experiment cylinder --profile smoke|quick|full|long` trains one MLP per (method, n, seed), samples
with the ancestral sampler, and scores samples against a held-out split.  Every run lives in
runs/<dataset>/<profile>/<method>/n<n>/s<seed>/ with a resumable checkpoint; finished runs (result.json)
are skipped on a re-run.  Aggregates go to reports/experiments/<dataset>[-<profile>]/.

A run folder is created when its job starts and removed again if the job fails before leaving a
checkpoint, so no empty folders are left behind.  Metric values are stored with METRIC_DIGITS significant
digits, so that results are byte-stable across machines and thread counts.  A result.json or checkpoint
that cannot be read stops the experiment with a RunFileError naming the file.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..io import write_text_atomic
from ..methods import Method, make_method
from ..samplers import ancestral
from ..schedules import make_beta, rescale_zero_terminal_snr
from .data import make_split
from .metrics import METRIC_DIGITS, brightness, mmd, significant, w1, w1_brightness
from .models import MLPDenoiser
from .oracle import EmpiricalOracle
from .runfiles import RunFileError, make_dirs, read_result, remove_if_empty, resolve_device
from .train import train

__all__ = ["PROFILES", "Profile", "RunFileError", "build_method", "resolve_device", "run_experiment", "run_one"]

HIST_BINS = torch.linspace(-2.5, 2.5, 51)
DATASETS = ("cylinder", "gaussian")


@dataclass(frozen=True)
class Profile:
    dims: tuple
    seeds: int
    steps: int
    batch: int
    n_train: int
    n_test: int
    n_gen: int
    T: int
    methods: tuple
    oracle_methods: tuple = ()
    oracle_seeds: int = 1
    sweep_methods: tuple = ()     # extra settings of a sweep, run with `sweep_seeds` seeds
    sweep_seeds: int = 1
    oracle_train: int = 1000
    extra: dict = field(default_factory=dict)


PROFILES = {
    "smoke": Profile(dims=(2, 4), seeds=1, steps=40, batch=64, n_train=256, n_test=128, n_gen=128, T=50,
                     methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"), oracle_methods=("oracle-proposed-sc1",),
                     oracle_train=128),
    "quick": Profile(dims=(2, 8, 32), seeds=1, steps=1000, batch=256, n_train=4000, n_test=2000, n_gen=2000, T=1000,
                     methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                     oracle_methods=("oracle-proposed-sc1",), oracle_train=1000),
    "full": Profile(dims=(2, 8, 32, 128, 256), seeds=3, steps=3000, batch=256, n_train=10000, n_test=2000,
                    n_gen=2000, T=1000,
                    methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                    sweep_methods=("offset-w0.3", "offset-w0.5", "offset-w1", "proposed-sc0.5", "proposed-sc2"),
                    sweep_seeds=1,
                    oracle_methods=("oracle-base", "oracle-offset-w0.1", "oracle-proposed-sc1"),
                    oracle_seeds=1, oracle_train=1000),
    # Does the comparison at the largest n depend on the training budget?  base vs proposed, 10 000 steps.
    "long": Profile(dims=(256,), seeds=3, steps=10000, batch=256, n_train=10000, n_test=2000, n_gen=2000, T=1000,
                    methods=("base", "proposed-sc1")),
}


def build_method(cfg: str, T: int) -> Method:
    """'base', 'offset-w<W>', 'proposed-sc<σ_c>', 'zero-snr' (base on the rescaled schedule, v-prediction)."""
    beta = make_beta("linear", T)
    if cfg == "base":
        return make_method("base", beta)
    if cfg.startswith("offset-w"):
        return make_method("offset", beta, w=float(cfg[8:]))
    if cfg.startswith("proposed-sc"):
        return make_method("proposed", beta, sigma_c=float(cfg[11:]))
    if cfg == "zero-snr":
        m = make_method("base", rescale_zero_terminal_snr(beta))
        return Method("zero-snr", m.tables, m.xi_train, m.xi_start)
    raise ValueError(f"unknown method configuration {cfg!r}")


def _xi_sigma(m: Method) -> float:
    return getattr(m.xi_train, "sigma_c", 0.0)


def run_one(dataset: str, cfg: str, n: int, seed: int, prof: Profile, root: Path, device, pred: str = "v",
            progress=True) -> dict:
    """Train (or resume), sample and score one job; returns its record (also written to result.json)."""
    d = root / cfg / f"n{n}" / f"s{seed}"
    done = d / "result.json"
    if done.exists():
        return read_result(done)
    created = make_dirs(d)
    try:
        return _run_one(dataset, cfg, n, seed, prof, d, torch.device(device), pred, progress)
    except BaseException:
        remove_if_empty(created)
        raise


def _run_one(dataset, cfg, n, seed, prof, d: Path, device, pred, progress) -> dict:
    done = d / "result.json"
    oracle = cfg.startswith("oracle-")
    method = build_method(cfg[7:] if oracle else cfg, prof.T)
    train_x = make_split(dataset, n, "train", prof.n_train)
    test_x = make_split(dataset, n, "test", prof.n_test)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    hist = {"loss": [], "val": []}
    if oracle:
        model = EmpiricalOracle(train_x[: prof.oracle_train], method.tables.to(device), sigma_c=_xi_sigma(method),
                                pred=pred).to(device)
        dtype = torch.float64
    else:
        model = MLPDenoiser(n).to(device)   # hidden width min(256, max(128, 4n))
        hist = train(model, method, train_x, steps=prof.steps, batch=prof.batch, pred=pred, seed=seed,
                     ckpt=d / "ckpt.pt", val=make_split(dataset, n, "val", min(1000, prof.n_test)), device=device,
                     progress=progress, desc=f"{cfg} n={n} s={seed}")
        model.eval()
        dtype = torch.float32
    t_train = time.perf_counter() - t0
    gen = torch.Generator(device=device).manual_seed(10_000 + seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        x = ancestral(model, (prof.n_gen, n), method.tables, method.xi_start, pred=pred, generator=gen,
                      device=device, dtype=dtype, progress=progress)
    t_sample = time.perf_counter() - t0
    x = x.double().cpu()
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"{cfg} n={n} seed={seed}: sampler produced non-finite values")
    ref = test_x[: prof.n_gen]
    m2, bw = mmd(x, ref)
    sig = significant
    res = {"dataset": dataset, "method": cfg, "n": n, "seed": seed, "pred": pred, "device": device.type,
           "w1_brightness": sig(w1_brightness(x, ref)), "w1": sig(w1(x, ref)), "mmd": sig(m2),
           "mmd_bandwidth": sig(bw), "metric_digits": METRIC_DIGITS,
           "n_generated": int(x.shape[0]), "n_test": int(ref.shape[0]), "steps": 0 if oracle else prof.steps,
           "batch": prof.batch, "T": prof.T, "n_train": prof.oracle_train if oracle else prof.n_train,
           "train_seconds": round(t_train, 2), "sample_seconds": round(t_sample, 2),
           "hist_gen": torch.histogram(brightness(x).clamp(-2.5, 2.5), bins=HIST_BINS.double()).hist.tolist(),
           "hist_data": torch.histogram(brightness(ref).clamp(-2.5, 2.5), bins=HIST_BINS.double()).hist.tolist(),
           "loss_curve": [(s, sig(v)) for s, v in hist["loss"]], "val_curve": [(s, sig(v)) for s, v in hist["val"]]}
    write_text_atomic(done, json.dumps(res, sort_keys=True, allow_nan=False) + "\n")
    ck = d / "ckpt.pt"
    if ck.exists():
        ck.unlink()
    return res


def plan_jobs(prof: Profile, dims, methods, seeds) -> list[tuple[str, int, int]]:
    """(method, n, seed) for every job: the profile's methods, sweeps and oracles, or exactly `methods`."""
    cfgs = list(methods or (prof.methods + prof.sweep_methods + prof.oracle_methods))

    def n_seeds(c):
        if methods:
            return seeds
        return prof.oracle_seeds if c.startswith("oracle-") else prof.sweep_seeds if c in prof.sweep_methods else seeds
    return [(c, n, s) for n in dims for c in cfgs for s in range(n_seeds(c))]


def check_request(dataset: str, profile: str, dims, methods, seeds, shard) -> None:
    """Raise InputError for anything run_experiment would fail on later (before any work starts)."""
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if dims is not None and (not dims or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in dims)):
        raise InputError(f"dimensions must be a non-empty list of integers >= 1, got {dims!r}")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise InputError(f"seeds must be an integer >= 1, got {seeds!r}")
    if methods is not None:
        if not methods or len(set(methods)) != len(methods):
            raise InputError(f"methods must be a non-empty list without repeats, got {methods!r}")
        for m in methods:
            try:
                build_method(m[7:] if m.startswith("oracle-") else m, 10)
            except ValueError as e:
                raise InputError(f"method {m!r}: {e}; use base, offset-w<W>, proposed-sc<σ_c>, zero-snr or "
                                 "oracle-<one of these>") from None
    i, k = shard
    if not 0 <= i < k:
        raise InputError(f"shard must be i/k with 0 <= i < k, got {i}/{k}")


def run_experiment(dataset: str, profile: str = "quick", *, dims=None, methods=None, seeds=None, out=None,
                   runs_dir="runs", device=None, progress=True, shard: tuple[int, int] = (0, 1)) -> Path | None:
    """Run (or resume) every job of a profile; with shard=(i, k) only jobs i, i+k, ... and no aggregation."""
    check_request(dataset, profile, dims, methods, seeds, shard)
    prof = PROFILES[profile]
    dims = tuple(dims or prof.dims)
    seeds = int(seeds or prof.seeds)
    device = resolve_device(device)
    jobs = plan_jobs(prof, dims, methods, seeds)
    i, k = shard
    root = Path(runs_dir) / dataset / profile
    out = Path(out or default_out(dataset, profile))
    records = []
    for c, n, s in tqdm(jobs[i::k], desc=f"{dataset} {profile} runs", disable=not progress):
        records.append(run_one(dataset, c, n, s, prof, root, device, progress=progress))
    if k > 1:
        return None
    from .results import write_outputs
    write_outputs(out, records, dataset=dataset, profile=profile, prof=prof)
    return out


def default_out(dataset: str, profile: str) -> str:
    return f"reports/experiments/{dataset}" + ("" if profile == "full" else f"-{profile}")


def report_hook(out: Path, *, full: bool = False) -> Path:
    """Called by `gendiff report`: the quick profile (full with --full); returns the output folder."""
    prof = "full" if full else "quick"
    return run_experiment("cylinder", prof, out=out / "experiments" / ("cylinder" if full else "cylinder-quick"))
