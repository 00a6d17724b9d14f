"""The experiment engine: base vs offset noise vs proposed vs zero-SNR, for any `spec.Spec` [2412.03134 §5].

`run_experiment(dataset, profile)` runs every job of a spec's profile (resume, `shard`, device, progress only
on a terminal, interruption that loses no finished job), writes timings.json, and hands the records to the
results writer (`results.write_outputs`, its tables and figures chosen by the kind of data).  Every job, of
any kind, is `run_one` below: what differs by kind (model factory, data splits, sampling and scoring, the run
files) is `VectorJob` here and `digits.ImageJob`.

Vector data: `gendiff experiment cylinder --profile smoke|quick|full|long` trains one MLP per (method, n, seed), samples
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
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..io import write_text_atomic
from ..methods import Method
from ..starts import SignalLeak
from .data import make_split
from .metrics import METRIC_DIGITS, significant
from .models import MLPDenoiser, build_seeded
from .oracle import EmpiricalOracle
from .runfiles import (RunFileError, available_memory, command, job_seconds, make_dirs, memory_bytes, read_result,
                       remove_if_empty, resolve_device, why, write_job_timing, write_timings)
from .sampling import histogram, sample_and_score
from .spec import SPECS, VECTOR_PROFILES, Profile, build_method, default_out, own_schedule, plan_jobs, samplers_for
from .spec import check_request as spec_check
from .train import save_state, train

__all__ = ["PROFILES", "Profile", "RunFileError", "build_method", "resolve_device", "run_experiment", "run_one"]

PROFILES = VECTOR_PROFILES
DATASETS = tuple(SPECS)


def _xi_sigma(m: Method) -> float:
    return getattr(m.xi_train, "sigma_c", 0.0)


class VectorJob:
    """What the job does differently for vector data: an MLP at dimension n, splits of `data.make_split`, every
    sampler's scores in one result.json."""
    image = False

    @staticmethod
    def factory(n, prof):
        return lambda: MLPDenoiser(n)          # hidden width min(256, max(128, 4n))

    @staticmethod
    def data(dataset, n, prof, split):
        size = {"train": prof.n_train, "val": min(1000, prof.n_test), "test": prof.n_test}[split]
        x = make_split(dataset, n, split, size)
        return x[: prof.n_gen] if split == "test" else x

    @staticmethod
    def stored(d: Path, wanted):
        """(the stored record or None, {sampler: its scores})."""
        done = d / "result.json"
        res = read_result(done) if done.exists() else None
        return res, dict((res or {}).get("samplers", {}))

    @staticmethod
    def finished(d, previous, have, wanted):
        return previous

    @staticmethod
    def score(names, model, method, ref, *, prof, cfg, n, seed, pred, device, dtype, progress):
        return sample_and_score(names, model, method, ref, n_gen=prof.n_gen, pred=pred, seed=seed, device=device,
                                dtype=dtype, what=f"{cfg} n={n} seed={seed}", progress=progress)

    @staticmethod
    def trained(d, model, hist, t0, c0):
        pass

    @staticmethod
    def store(d, job, previous, have, hist, ref, seconds):
        dataset, cfg, n, seed, prof, pred, schedule, device = job
        oracle = cfg.startswith("oracle-")
        if previous is not None:
            res = {**previous, "samplers": {k: have[k] for k in sorted(have)}}
        else:
            anc, sig = have[f"ancestral-{prof.T}"], significant
            res = {"dataset": dataset, "method": cfg, "n": n, "seed": seed, "pred": pred, "device": device.type,
                   "schedule": schedule,
                   **{k: anc[k] for k in ("w1_brightness", "w1", "mmd", "mmd_bandwidth", "hist_gen")},
                   "metric_digits": METRIC_DIGITS, "sampler": f"ancestral-{prof.T}",
                   "n_generated": prof.n_gen, "n_test": int(ref.shape[0]), "steps": 0 if oracle else prof.steps,
                   "batch": prof.batch, "T": prof.T, "n_train": prof.oracle_train if oracle else prof.n_train,
                   "hist_data": histogram(ref), "samplers": {k: have[k] for k in sorted(have)},
                   "loss_curve": [(s, sig(v)) for s, v in hist["loss"]],
                   "val_curve": [(s, sig(v)) for s, v in hist["val"]]}
        write_text_atomic(d / "result.json", json.dumps(res, sort_keys=True, allow_nan=False) + "\n")
        return res


def run_one(dataset: str, cfg: str, n: int, seed: int, prof: Profile, root: Path, device, pred: str = "v",
            progress=True, schedule: str = "linear"):
    """Train (or resume), sample and score one job of any spec in `Spec.run_dir(root, cfg, n, seed)`; samplers
    already stored are skipped, samplers added to the profile later run on the stored weights.  Returns the job's
    record (vector data, also result.json) or its records, one per sampler (images, `digits.ImageJob`)."""
    from .digits import ImageJob
    spec = SPECS[dataset]
    job = VectorJob if spec.kind == "vector" else ImageJob
    d = spec.run_dir(Path(root), cfg, n, seed)
    wanted = samplers_for(prof, cfg)
    previous, have = job.stored(d, wanted)
    if all(s in have for s in wanted):
        return job.finished(d, previous, have, wanted)
    created = make_dirs(d)
    try:
        return _run(job, (dataset, cfg, n, seed, prof, pred, schedule, torch.device(device)), d, previous, have,
                    wanted, progress)
    except BaseException:
        remove_if_empty(created)
        raise


def _model(job, key, d: Path, method, progress):
    """(model, dtype, loss history, trained now): the oracle, the stored weights, or a seeded model trained here
    (weights then stored)."""
    dataset, cfg, n, seed, prof, pred, _, device = key
    hist = {"loss": [], "val": []}
    if cfg.startswith("oracle-"):
        train_x = make_split(dataset, n, "train", prof.n_train)
        return EmpiricalOracle(train_x[: prof.oracle_train], method.tables.to(device), sigma_c=_xi_sigma(method),
                               pred=pred).to(device), torch.float64, hist, False
    model = build_seeded(job.factory(n, prof), seed, device)
    weights = d / "model.pt"
    if weights.exists():
        try:
            model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
        except Exception as e:          # any unreadable or mismatched file: name it
            raise RunFileError(f"corrupt run file {str(weights)!r} ({why(e)}): delete its folder to retrain") from None
        return model.eval(), torch.float32, hist, False
    t0, c0 = time.perf_counter(), time.process_time()
    hist = train(model, method, job.data(dataset, n, prof, "train"), steps=prof.steps, batch=prof.batch, pred=pred,
                 seed=seed, ckpt=d / "ckpt.pt", val=None if job.image else job.data(dataset, n, prof, "val"),
                 device=device, progress=progress, desc=f"{dataset} {cfg} n={n} s={seed}")
    save_state(weights, model.state_dict())
    job.trained(d, model, hist, t0, c0)
    return model.eval(), torch.float32, hist, True


def _run(job, key, d: Path, previous, have, wanted, progress):
    dataset, cfg, n, seed, prof, pred, schedule, device = key
    oracle = cfg.startswith("oracle-")
    spec_name = cfg[7:] if oracle else cfg
    leak = SignalLeak.fit(job.data(dataset, n, prof, "train")) if spec_name == "base-signal-leak" else None
    method = build_method(spec_name, prof.T, image=job.image, schedule=schedule, leak=leak)
    ref = job.data(dataset, n, prof, "test")
    if have and not oracle and not (d / "model.pt").exists():
        raise RunFileError(f"run {str(d)!r} has no stored weights (model.pt) for the samplers "
                           f"{', '.join(s for s in wanted if s not in have)}: delete its folder to retrain")
    t0 = time.perf_counter()
    model, dtype, hist, trained = _model(job, key, d, method, progress)
    t_train = time.perf_counter() - t0
    new = job.score([s for s in wanted if s not in have], model, method, ref, prof=prof, cfg=cfg, n=n, seed=seed,
                    pred=pred, device=device, dtype=dtype, progress=progress)
    seconds = {k: v.pop("sample_seconds") for k, v in new.items()}
    have.update(new)
    res = job.store(d, key, previous, have, hist, ref, seconds)
    write_job_timing(d / "timing.json", round(t_train, 2) if trained else None, seconds)
    (d / "ckpt.pt").unlink(missing_ok=True)
    return res


def check_memory(profile: str, dims) -> None:
    """InputError naming the largest n when one job would not fit into the memory available now."""
    prof, avail = VECTOR_PROFILES[profile], available_memory()
    n = max(dims or prof.dims)
    need = memory_bytes(prof, n)
    if avail is not None and need > avail:
        raise InputError(f"n = {n} needs about {need / 2**30:.3g} GiB of memory for one job of profile {profile!r}, "
                         f"but {avail / 2**30:.3g} GiB are available: use smaller dimensions")


def check_request(dataset: str, profile: str, dims, methods, seeds, shard, schedule=None) -> None:
    """Raise InputError for anything run_experiment would fail on later (before any work starts)."""
    if dataset not in SPECS:
        raise InputError(f"unknown dataset {dataset!r}: use one of {', '.join(SPECS)}")
    spec_check(SPECS[dataset], profile, dims, methods, seeds, shard, schedule)


def run_jobs(jobs, run, *, shard: tuple[int, int] = (0, 1), threads: int | None = None, progress: bool = True,
             desc: str = "runs") -> list[dict]:
    """The one job loop: run(job) for jobs i, i+k, ... of `jobs` (shard = (i, k)), with `threads` torch threads
    (restored afterwards, also on Ctrl-C: every finished job has stored its own files), a progress bar when
    `progress`; returns the records (a job may return one record or a list)."""
    i, k = shard
    records, before = [], torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for job in tqdm(jobs[i::k], desc=desc, disable=not progress):
            r = run(job)
            records += r if isinstance(r, list) else [r]
    finally:
        torch.set_num_threads(before)
    return records


def run_experiment(dataset: str, profile: str = "quick", *, dims=None, methods=None, seeds=None, out=None,
                   runs_dir="runs", device=None, progress=True, shard: tuple[int, int] = (0, 1),
                   schedule: str | None = None) -> Path | None:
    """Run (or resume) every job of a profile; with shard=(i, k) only jobs i, i+k, ... and no aggregation.
    `schedule` (default: the spec's) replaces the β schedule of every method; its runs and folder get a suffix."""
    check_request(dataset, profile, dims, methods, seeds, shard, schedule)
    spec = SPECS[dataset]
    prof = spec.profiles[profile]
    own = own_schedule(spec, prof)
    schedule = None if schedule in (None, own) else schedule
    dims_run, seeds_run = tuple(dims or prof.dims), int(seeds or prof.seeds)
    device = resolve_device(device)
    jobs = plan_jobs(prof, dims_run, methods, seeds_run)
    i, k = shard
    root = Path(runs_dir) / dataset / (profile + (f"-{schedule}" if schedule else ""))
    out = Path(out or default_out(dataset, profile, schedule))
    t0, c0 = time.perf_counter(), time.process_time()
    records = run_jobs(jobs, lambda job: run_one(dataset, *job, prof, root, device, progress=progress,
                                                 schedule=schedule or own),
                       shard=shard, threads=spec.threads, progress=progress, desc=f"{dataset} {profile} runs")
    if k > 1:
        return None
    timing_files = [spec.run_dir(root, c, n, s) / "timing.json" for c, n, s in jobs]
    write_timings(out, command(dataset, profile, dims, methods, seeds, schedule), time.perf_counter() - t0,
                  time.process_time() - c0, *job_seconds(timing_files))
    from .results import write_outputs
    write_outputs(out, records, dataset=dataset, profile=profile, prof=prof, device=str(device))
    return out
