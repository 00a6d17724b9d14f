"""Run folders of `gendiff experiment`: the device, reading finished runs, creating and cleaning folders.

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


RESULT_KEYS = ("method", "n", "seed", "pred", "w1_brightness", "w1", "mmd", "mmd_bandwidth", "n_generated", "n_test",
               "steps", "batch", "T", "n_train", "hist_gen", "hist_data", "loss_curve", "val_curve")


def read_result(path: Path) -> dict:
    try:
        res = json.loads(path.read_text())
        missing = [k for k in RESULT_KEYS if k not in res] if isinstance(res, dict) else ["(not an object)"]
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunFileError(f"corrupt run file {str(path)!r} ({why(e)}): delete it to redo "
                           "this run") from None
    if missing:
        raise RunFileError(f"corrupt run file {str(path)!r} (missing {', '.join(missing)}): delete it to redo "
                           "this run")
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
