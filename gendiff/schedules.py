"""Noise schedules β_1..β_T (float64), with validation.

| name            | definition                                                                  |
|-----------------|-----------------------------------------------------------------------------|
| `linear`        | β_t evenly spaced from 1e-4 to 0.02 (Ho et al. 2020)                         |
| `scaled_linear` | √β_t evenly spaced from √0.00085 to √0.012 (Stable Diffusion)               |
| `cosine`        | ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2)/ᾱ(0), s = 0.008, β_t ≤ 0.999 (Nichol & Dhariwal) |
| a FILE / array  | user-given β_1..β_T (.npy, .csv or .txt)                                    |

β_T = 1 (zero terminal SNR, ᾱ_T = 0) is accepted here; what each consumer does with it is
documented where it matters (the balanced γ refuses it, ε-prediction at t = T refuses it).
:func:`terminal_snr_problem` tells that case apart from ᾱ_T underflowing float64 (very long schedules).

Files (:func:`load_array`): a 1-D array in .npy, or one number per line / one comma-separated row in
.csv/.txt; or a table written by `gendiff coefficients` (structured .npy, .csv with a header), from
which `FILE:NAME` picks column NAME (each caller has a default column, e.g. `beta` for a schedule).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

NAMES = ("linear", "scaled_linear", "cosine")
FILE_SUFFIXES = (".npy", ".csv", ".txt")


class ScheduleError(InputError):
    """Invalid schedule, schedule argument or array file."""


def validate_beta(beta) -> torch.Tensor:
    """Return β as a 1-D float64 CPU tensor, or raise ScheduleError saying what is wrong."""
    b = torch.as_tensor(beta, dtype=torch.float64).detach().cpu()
    if b.ndim != 1:
        raise ScheduleError(f"β must be 1-D (β_1..β_T), got shape {tuple(b.shape)}")
    if b.numel() < 1:
        raise ScheduleError("β is empty: T must be >= 1")
    bad = ~torch.isfinite(b)
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ScheduleError(f"β_{i + 1} is not finite ({b[i].item()}); every β_t must be in (0, 1]")
    out = (b <= 0) | (b > 1)
    if out.any():
        i = int(out.nonzero()[0])
        raise ScheduleError(f"β_{i + 1} = {b[i].item()!r} is outside (0, 1]")
    if (b[:-1] >= 1).any():
        i = int((b[:-1] >= 1).nonzero()[0])
        raise ScheduleError(f"β_{i + 1} = 1 before the last step destroys all signal; only β_T may be 1")
    return b


def make_beta(name, T: int = 1000) -> torch.Tensor:
    """β_1..β_T for a named schedule, a file path, or a sequence of numbers (float64)."""
    if isinstance(name, (list, tuple, np.ndarray, torch.Tensor)):
        return validate_beta(name)
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ScheduleError(f"T must be an integer >= 1, got {T!r}")
    if name == "linear":
        b = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    elif name == "scaled_linear":
        b = torch.linspace(math.sqrt(0.00085), math.sqrt(0.012), T, dtype=torch.float64) ** 2
    elif name == "cosine":
        s = 0.008
        t = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        b = torch.clamp(1 - ab[1:] / ab[:-1], max=0.999)
    elif isinstance(name, (str, Path)) and split_spec(name)[0].suffix in FILE_SUFFIXES:
        b = load_array(name, what="β", default_column="beta")
    else:
        raise ScheduleError(f"unknown schedule {name!r}: use {', '.join(NAMES)}, or a .npy/.csv/.txt file of β_t")
    return validate_beta(b)


def split_spec(spec) -> tuple[Path, str | None]:
    """'FILE' -> (FILE, None); 'FILE:NAME' -> (FILE, NAME) when FILE ends in .npy/.csv/.txt."""
    text = str(spec)
    path = Path(text)
    if path.suffix in FILE_SUFFIXES or path.is_file():
        return path, None
    head, sep, name = text.rpartition(":")
    if sep and name and Path(head).suffix in FILE_SUFFIXES:
        return Path(head), name
    return path, None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_text(p: Path) -> tuple[list[str] | None, np.ndarray]:
    """(header or None, values): one number per line, one row, or a table with a header line."""
    rows = [line.replace(",", " ").split() for line in p.read_text().splitlines()]
    rows = [r for r in rows if r and not r[0].startswith("#")]
    if not rows:
        raise ValueError("it holds no numbers")
    names = None
    if not any(_is_number(x) for x in rows[0]):
        names, rows = rows[0], rows[1:]
        if not rows:
            raise ValueError(f"it has a header ({', '.join(names)}) but no rows")
    for r in rows:
        for x in r:
            if not _is_number(x):
                raise ValueError(f"{x!r} is not a real number")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or (names is not None and widths != {len(names)}):
        raise ValueError("its rows have different numbers of entries")
    a = np.array([[float(x) for x in r] for r in rows], dtype=np.float64)
    if names is None and a.shape[1] == 1:
        a = a[:, 0]
    elif names is None and a.shape[0] == 1:
        a = a[0]
    return names, a


def load_array(spec, *, what: str = "array", default_column: str | None = None) -> torch.Tensor:
    """Read a 1-D float64 array from FILE or FILE:NAME (see the module docstring).

    A table needs a column: NAME, else `default_column`.  Refuses (ScheduleError) missing or unreadable
    files, arrays that are not 1-D, and values that are not real numbers (complex, boolean, text).
    """
    p, column = split_spec(spec)

    def fail(why: str):
        raise ScheduleError(f"cannot read {what} file {str(p)!r}: {why}")
    if p.suffix not in FILE_SUFFIXES:
        fail("use a .npy, .csv or .txt file")
    if not p.exists():
        fail("no such file")
    if not p.is_file():
        fail("it is not a regular file")
    names = None
    try:
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)
        else:
            names, a = _read_text(p)
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        fail(str(e) or type(e).__name__)
    if p.suffix == ".npy":
        if not isinstance(a, np.ndarray):
            fail("it is not a single .npy array")
        names = list(a.dtype.names) if a.dtype.names else None
    if names is not None:
        col = column or default_column
        if col is None:
            fail(f"it is a table (columns {', '.join(names)}): pick one with {p}:NAME")
        if col not in names:
            fail(f"it has no column {col!r} (columns: {', '.join(names)}); pick one with {p}:NAME")
        a = a[col] if a.dtype.names else a[:, names.index(col)]
    elif column is not None:
        fail(f"it holds a plain array, not a table with columns: drop ':{column}'")
    if a.dtype.kind not in "iuf":
        fail(f"it holds {a.dtype} values; only real numbers are allowed")
    if a.ndim != 1:
        fail(f"it holds an array of shape {a.shape}; give one value per step (a 1-D array), "
             "or a table written by `gendiff coefficients` and FILE:NAME for its column NAME")
    return torch.from_numpy(np.array(a, dtype=np.float64))


def terminal_snr_problem(beta) -> str | None:
    """None when ᾱ_T is a normal positive float64; else why not (β_T = 1, or ᾱ_T underflows)."""
    b = validate_beta(beta)
    if b[-1] == 1:
        return "β_T = 1 makes ᾱ_T = 0 (zero terminal SNR)"
    log_ab = float(torch.log1p(-b).sum())
    if log_ab < math.log(sys.float_info.min):
        return (f"ᾱ_T = exp({log_ab:.5g}) underflows float64 (its smallest normal number is about exp(-708)); "
                "this is not zero terminal SNR: use fewer steps T or smaller β_t")
    return None


def rescale_zero_terminal_snr(beta) -> torch.Tensor:
    """Rescale a schedule so that ᾱ_T = 0 (Lin et al. 2024, Algorithm 1), keeping √ᾱ_1."""
    b = validate_beta(beta)
    sab = torch.exp(0.5 * torch.cumsum(torch.log1p(-b), 0))
    s0, sT = sab[0].clone(), sab[-1].clone()
    sab = (sab - sT) * s0 / (s0 - sT)
    ab = sab**2
    alpha = torch.cat([ab[:1], ab[1:] / ab[:-1]])
    return validate_beta(1 - alpha)
