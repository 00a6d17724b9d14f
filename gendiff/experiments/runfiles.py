"""Run folders of `gendiff experiment`: the device and memory, reading finished runs, creating and cleaning folders.

Every problem a user can fix (an unusable device, a corrupt result.json or checkpoint) raises an
InputError whose message names the device or file and what to do.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import InputError


class RunFileError(InputError):
    """A file in the runs folder (result.json, ckpt.pt) that cannot be used; the message names it."""


def why(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first[:160]}" if first else type(e).__name__


def resolve_device(spec=None) -> torch.device:
    """'cpu', 'cuda' or 'cuda:<i>' (default: CUDA when available); InputError for anything unusable here."""
    if spec is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {spec!r}: use cpu, cuda or cuda:<index>") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise InputError(f"device {spec!r} is not supported: use cpu, cuda or cuda:<index>")
    if not torch.cuda.is_available():
        raise InputError(f"device {spec!r}: CUDA is not available on this machine (torch {torch.__version__}); "
                         "use cpu")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"indices 0..{torch.cuda.device_count() - 1}")
    return dev


def memory_bytes(prof, n: int) -> int:
    """Host memory one job at dimension n needs, roughly: the float64 splits (train, val, test) and the float32
    training copy, the MLP with gradients, Adam's two moments and its temporaries (24 bytes a parameter), the
    sampler's and the metrics' copies of the generated set, the W1/MMD matrices, and 128 MiB of workspaces.
    Measured peak growth of one smoke job: 479 MiB at n = 16 384 (estimate 501), 1439 MiB at n = 65 536 (1607)."""
    h = min(256, max(128, 4 * n))
    params = (n + 64) * h + 2 * (h * h + h) + h * n + n
    data = 8 * n * (prof.n_train + min(1000, prof.n_test) + prof.n_test) + 4 * n * prof.n_train
    samples = 32 * n * prof.n_gen + 32 * n * prof.batch          # sampler and metric copies; a batch's activations
    pooled = prof.n_gen + prof.n_test
    return data + 24 * params + samples + 8 * (prof.n_gen * prof.n_test + 3 * pooled * pooled) + 2**27


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where the file does not exist)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


RESULT_KEYS = ("method", "n", "seed", "pred", "w1_brightness", "w1", "mmd", "mmd_bandwidth", "n_generated", "n_test",
               "steps", "batch", "T", "n_train", "hist_gen", "hist_data", "loss_curve", "val_curve")


def read_result(path: Path, keys=RESULT_KEYS, what: str = "this run") -> dict:
    """A stored record (a vector job's result.json; with keys=() and what="this piece", an image job's
    <sampler>.json); RunFileError naming the file, and what deleting it redoes, when it is unusable."""
    try:
        res = json.loads(path.read_text())
        missing = [k for k in keys if k not in res] if isinstance(res, dict) else ["(not an object)"]
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunFileError(f"corrupt run file {str(path)!r} ({why(e)}): delete it to redo {what}") from None
    if missing:
        raise RunFileError(f"corrupt run file {str(path)!r} (missing {', '.join(missing)}): delete it to redo "
                           f"{what}")
    return res


def make_dirs(d: Path) -> list[Path]:
    """mkdir -p d; returns the folders it created, outermost first."""
    missing = []
    q = d
    while not q.exists():
        missing.append(q)
        q = q.parent
    d.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def remove_if_empty(created: list[Path]) -> None:
    for q in reversed(created):
        try:
            q.rmdir()
        except OSError:                       # not empty (a checkpoint to resume from): keep it and its parents
            return


def timing_lines(out: Path) -> list[str]:
    """results.md lines naming the command that produced folder `out` and its measured times (timings.json)."""
    p = Path(out) / "timings.json"
    if not p.exists():
        return ["Command and wall time: not recorded (this folder has no timings.json).", ""]
    t = json.loads(p.read_text())
    parts = [f"wall time {t['wall_seconds']:.0f} s"] if t.get("wall_seconds") is not None else []
    if t.get("cpu_seconds") is not None:
        parts.append(f"CPU time {t['cpu_seconds']:.0f} s")
    if t.get("job_seconds") is not None:
        parts.append(f"{t['job_seconds']:.0f} s of training and sampling summed over its {t['jobs']} jobs")
    measured = f"measured {', '.join(parts)}" if parts else "its wall time was not recorded"
    note = f" {t['note']}" if t.get("note") else ""
    return [f"Command: `{t['command']}`; {measured} (`timings.json`).{note}", ""]


def command(dataset: str, profile: str, dims=None, methods=None, seeds=None, schedule=None) -> str:
    """The `gendiff experiment` command line that asks for this run."""
    return " ".join([f"gendiff experiment {dataset} --profile {profile}"]
                    + ([f"--dims {','.join(map(str, dims))}"] if dims else [])
                    + ([f"--methods {','.join(methods)}"] if methods else []) + ([f"--seeds {seeds}"] if seeds else [])
                    + ([f"--schedule {schedule}"] if schedule else []))


def write_job_timing(path: Path, train_seconds, sample_seconds: dict) -> None:
    """timing.json of one run (training and per-sampler wall seconds; None keeps the stored training time),
    kept apart from the run's results so that those are byte-stable."""
    from ..io import write_text_atomic
    old = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
    rec = {"train_seconds": old.get("train_seconds") if train_seconds is None else train_seconds,
           "sample_seconds": {**old.get("sample_seconds", {}), **sample_seconds}}
    write_text_atomic(path, json.dumps(rec, sort_keys=True) + "\n")


def job_seconds(timing_files) -> tuple[float, int]:
    """(training + sampling wall seconds summed, number of jobs) from the jobs' timing.json files."""
    total, jobs = 0.0, 0
    for f in timing_files:
        try:
            t = json.loads(Path(f).read_text())
        except (OSError, ValueError):
            continue
        total += (t.get("train_seconds") or 0.0) + sum(t.get("sample_seconds", {}).values())
        jobs += 1
    return total, jobs


def write_timings(out: Path, cmd: str, wall: float, cpu: float, jobs_seconds: float, jobs: int) -> None:
    """timings.json of an experiment folder: the command, the wall and CPU time of this call, and the wall time
    of training and sampling summed over its jobs (which covers shards and earlier, resumed calls)."""
    from ..io import write_text_atomic
    rec = {"command": cmd, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
           "job_seconds": round(jobs_seconds, 1), "jobs": jobs}
    write_text_atomic(Path(out) / "timings.json", json.dumps(rec, indent=1, sort_keys=True) + "\n")
