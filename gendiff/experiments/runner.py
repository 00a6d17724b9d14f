"""Experiments: Base vs offset noise vs proposed vs zero-SNR across dimensions [2412.03134 §5].

`gendiff experiment cylinder --profile smoke|quick|full|long` trains one MLP per (method, n, seed), samples
with each sampler of the profile (`ancestral-T` always; DDIM and stock-DDIM step counts, see
`gendiff.experiments.sampling`), and scores samples against a held-out split.  Every run lives in
runs/<dataset>/<profile>/<method>/n<n>/s<seed>/ with a resumable checkpoint and, once trained, its weights
(model.pt); finished runs (result.json) are skipped on a re-run, except that samplers added to the profile
later are run on the stored weights.  Aggregates go to reports/experiments/<dataset>[-<profile>]/.

Every job is reproducible from its own seed: the model's initial weights (`models.build_seeded`), the training
batches and noise (`train`), the data splits (`data.make_split`) and the sampler's x_T (`sampling.draw`) come
from explicit generators, so a job writes the same result.json bytes alone, after other jobs, in a shard or
after a resume (tests/test_experiment.py::test_a_job_gives_the_same_bytes_whatever_ran_before).  Wall times go
to timing.json beside result.json.

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
from ..schedules import make_beta, rescale_zero_terminal_snr
from .data import make_split
from .metrics import METRIC_DIGITS, significant
from .models import MLPDenoiser, build_seeded
from .oracle import EmpiricalOracle
from .runfiles import (RunFileError, command, make_dirs, read_result, remove_if_empty, resolve_device, why,
                       job_seconds, write_timings, available_memory, memory_bytes)
from .sampling import histogram, sample_and_score
from .train import save_state, train

__all__ = ["PROFILES", "Profile", "RunFileError", "build_method", "resolve_device", "run_experiment", "run_one"]

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
    samplers: tuple = ()          # besides ancestral-T, for every method but the sweeps
    stock: tuple = ()             # stock-ddim-<k>, for the proposed methods only
    extra: dict = field(default_factory=dict)


SAMPLER_AXIS = dict(samplers=("ddim-10", "ddim-20", "ddim-50", "ddim-100"), stock=("stock-ddim-50",))
PROFILES = {
    "smoke": Profile(dims=(2, 4), seeds=1, steps=40, batch=64, n_train=256, n_test=128, n_gen=128, T=50,
                     methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"), oracle_methods=("oracle-proposed-sc1",),
                     oracle_train=128, samplers=("ddim-10",), stock=("stock-ddim-10",)),
    "quick": Profile(dims=(2, 8, 32), seeds=1, steps=1000, batch=256, n_train=4000, n_test=2000, n_gen=2000, T=1000,
                     methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                     oracle_methods=("oracle-proposed-sc1",), oracle_train=1000, **SAMPLER_AXIS),
    "full": Profile(dims=(2, 8, 32, 128, 256), seeds=3, steps=3000, batch=256, n_train=10000, n_test=2000,
                    n_gen=2000, T=1000,
                    methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                    sweep_methods=("offset-w0.3", "offset-w0.5", "offset-w1", "proposed-sc0.5", "proposed-sc2"),
                    sweep_seeds=1,
                    oracle_methods=("oracle-base", "oracle-offset-w0.1", "oracle-proposed-sc1"),
                    oracle_seeds=1, oracle_train=1000, **SAMPLER_AXIS),
    # The sampler axis at the full profile's training budget: smallest, middle and largest n, main methods.
    "samplers": Profile(dims=(2, 32, 256), seeds=3, steps=3000, batch=256, n_train=10000, n_test=2000, n_gen=2000,
                        T=1000, methods=("base", "offset-w0.1", "proposed-sc1", "zero-snr"),
                        oracle_methods=("oracle-proposed-sc1",), oracle_seeds=1, oracle_train=1000, **SAMPLER_AXIS),
    # Does the comparison at the largest n depend on the training budget?  base vs proposed, 10 000 steps.
    "long": Profile(dims=(256,), seeds=3, steps=10000, batch=256, n_train=10000, n_test=2000, n_gen=2000, T=1000,
                    methods=("base", "proposed-sc1"), **SAMPLER_AXIS),
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
        res = read_result(done)
        if all(name in res.get("samplers", {}) for name in samplers_for(prof, cfg)):
            return res
        return _run_one(dataset, cfg, n, seed, prof, d, torch.device(device), pred, progress, previous=res)
    created = make_dirs(d)
    try:
        return _run_one(dataset, cfg, n, seed, prof, d, torch.device(device), pred, progress)
    except BaseException:
        remove_if_empty(created)
        raise


def samplers_for(prof: Profile, cfg: str) -> list[str]:
    """The samplers a job runs: ancestral-T, the profile's DDIM steps (not for sweeps), stock DDIM for proposed."""
    names = [f"ancestral-{prof.T}"]
    if cfg in prof.sweep_methods:
        return names
    names += list(prof.samplers)
    if (cfg[7:] if cfg.startswith("oracle-") else cfg).startswith("proposed"):
        names += list(prof.stock)
    return names


def _model(dataset, cfg, n, seed, prof, d: Path, device, pred, progress, method):
    """(model, dtype, loss history): the oracle, the stored weights, or a trained MLP (weights then stored)."""
    hist = {"loss": [], "val": []}
    if cfg.startswith("oracle-"):
        train_x = make_split(dataset, n, "train", prof.n_train)
        return EmpiricalOracle(train_x[: prof.oracle_train], method.tables.to(device), sigma_c=_xi_sigma(method),
                               pred=pred).to(device), torch.float64, hist
    model = build_seeded(lambda: MLPDenoiser(n), seed, device)   # hidden width min(256, max(128, 4n))
    weights = d / "model.pt"
    if weights.exists():
        try:
            model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
        except Exception as e:          # any unreadable or mismatched file: name it
            raise RunFileError(f"corrupt run file {str(weights)!r} ({why(e)}): delete its folder to retrain") from None
    else:
        hist = train(model, method, make_split(dataset, n, "train", prof.n_train), steps=prof.steps,
                     batch=prof.batch, pred=pred, seed=seed, ckpt=d / "ckpt.pt",
                     val=make_split(dataset, n, "val", min(1000, prof.n_test)), device=device, progress=progress,
                     desc=f"{cfg} n={n} s={seed}")
        save_state(weights, model.state_dict())
    model.eval()
    return model, torch.float32, hist


def _run_one(dataset, cfg, n, seed, prof, d: Path, device, pred, progress, previous=None) -> dict:
    done = d / "result.json"
    oracle = cfg.startswith("oracle-")
    method = build_method(cfg[7:] if oracle else cfg, prof.T)
    ref = make_split(dataset, n, "test", prof.n_test)[: prof.n_gen]
    wanted = samplers_for(prof, cfg)
    have = dict((previous or {}).get("samplers", {}))
    if previous is not None and not (d / "model.pt").exists() and not oracle:
        raise RunFileError(f"run {str(d)!r} has no stored weights (model.pt) for the samplers "
                           f"{', '.join(s for s in wanted if s not in have)}: delete its folder to retrain")
    t0 = time.perf_counter()
    model, dtype, hist = _model(dataset, cfg, n, seed, prof, d, device, pred, progress, method)
    t_train = time.perf_counter() - t0
    new = sample_and_score([s for s in wanted if s not in have], model, method, ref, n_gen=prof.n_gen, pred=pred,
                           seed=seed, device=device, dtype=dtype, what=f"{cfg} n={n} seed={seed}", progress=progress)
    seconds = {k: v.pop("sample_seconds") for k, v in new.items()}
    have.update(new)
    if previous is not None:
        res = {**previous, "samplers": {k: have[k] for k in sorted(have)}}
    else:
        anc = have[f"ancestral-{prof.T}"]
        sig = significant
        res = {"dataset": dataset, "method": cfg, "n": n, "seed": seed, "pred": pred, "device": device.type,
               **{k: anc[k] for k in ("w1_brightness", "w1", "mmd", "mmd_bandwidth", "hist_gen")},
               "metric_digits": METRIC_DIGITS, "sampler": f"ancestral-{prof.T}",
               "n_generated": prof.n_gen, "n_test": int(ref.shape[0]), "steps": 0 if oracle else prof.steps,
               "batch": prof.batch, "T": prof.T, "n_train": prof.oracle_train if oracle else prof.n_train,
               "hist_data": histogram(ref), "samplers": {k: have[k] for k in sorted(have)},
               "loss_curve": [(s, sig(v)) for s, v in hist["loss"]],
               "val_curve": [(s, sig(v)) for s, v in hist["val"]]}
    _write_timing(d / "timing.json", None if previous is not None else round(t_train, 2), seconds)
    write_text_atomic(done, json.dumps(res, sort_keys=True, allow_nan=False) + "\n")
    ck = d / "ckpt.pt"
    if ck.exists():
        ck.unlink()
    return res


def _write_timing(path: Path, train_seconds, sample_seconds: dict) -> None:
    """Wall times of a run, kept apart from result.json so that result.json is byte-stable."""
    old = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
    rec = {"train_seconds": old.get("train_seconds") if train_seconds is None else train_seconds,
           "sample_seconds": {**old.get("sample_seconds", {}), **sample_seconds}}
    write_text_atomic(path, json.dumps(rec, sort_keys=True) + "\n")


def plan_jobs(prof: Profile, dims, methods, seeds) -> list[tuple[str, int, int]]:
    """(method, n, seed) for every job: the profile's methods, sweeps and oracles, or exactly `methods`."""
    cfgs = list(methods or (prof.methods + prof.sweep_methods + prof.oracle_methods))

    def n_seeds(c):
        if methods:
            return seeds
        return prof.oracle_seeds if c.startswith("oracle-") else prof.sweep_seeds if c in prof.sweep_methods else seeds
    return [(c, n, s) for n in dims for c in cfgs for s in range(n_seeds(c))]


def check_memory(profile: str, dims) -> None:
    """InputError naming the largest n when one job would not fit into the memory available now."""
    prof, avail = PROFILES[profile], available_memory()
    n = max(dims or PROFILES[profile].dims)
    need = memory_bytes(prof, n)
    if avail is not None and need > avail:
        raise InputError(f"n = {n} needs about {need / 2**30:.3g} GiB of memory for one job of profile {profile!r}, "
                         f"but {avail / 2**30:.3g} GiB are available: use smaller dimensions")


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
    dims, seeds_arg = tuple(dims or prof.dims), seeds
    seeds = int(seeds or prof.seeds)
    device = resolve_device(device)
    jobs = plan_jobs(prof, dims, methods, seeds)
    i, k = shard
    root = Path(runs_dir) / dataset / profile
    out = Path(out or default_out(dataset, profile))
    records = []
    t0, c0 = time.perf_counter(), time.process_time()
    for c, n, s in tqdm(jobs[i::k], desc=f"{dataset} {profile} runs", disable=not progress):
        records.append(run_one(dataset, c, n, s, prof, root, device, progress=progress))
    if k > 1:
        return None
    from .results import write_outputs
    write_timings(out, command(dataset, profile, dims if dims != prof.dims else None, methods, seeds_arg),
                  time.perf_counter() - t0, time.process_time() - c0,
                  *job_seconds(root / c / f"n{n}" / f"s{s}" / "timing.json" for c, n, s in jobs))
    write_outputs(out, records, dataset=dataset, profile=profile, prof=prof)
    return out


def default_out(dataset: str, profile: str) -> str:
    return f"reports/experiments/{dataset}" + ("" if profile == "full" else f"-{profile}")
