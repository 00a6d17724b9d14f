"""Noise schedules β_1..β_T (float64), with validation.

| name            | definition                                                                  |
|-----------------|-----------------------------------------------------------------------------|
| `linear`        | β_t evenly spaced from 1e-4 to 0.02 (Ho et al. 2020)                         |
| `scaled_linear` | √β_t evenly spaced from √0.00085 to √0.012 (Stable Diffusion)               |
| `cosine`        | ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2)/ᾱ(0), s = 0.008, β_t ≤ 0.999 (Nichol & Dhariwal) |
| a FILE / array  | user-given β_1..β_T (.npy, .csv or .txt)                                    |

β_T = 1 (zero terminal SNR, ᾱ_T = 0) is accepted here; what each consumer does with it is
documented where it matters (the balanced γ refuses it, ε-prediction at t = T refuses it).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

NAMES = ("linear", "scaled_linear", "cosine")


class ScheduleError(ValueError):
    """Invalid schedule or schedule argument."""


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
    elif isinstance(name, (str, Path)) and Path(name).suffix in (".npy", ".csv", ".txt"):
        b = load_array(name, what="β")
    else:
        raise ScheduleError(f"unknown schedule {name!r}: use one of {NAMES} or a .npy/.csv/.txt file of β_t")
    return validate_beta(b)


def load_array(path, *, what: str = "array") -> torch.Tensor:
    """Read a 1-D float array from .npy, .csv or .txt (comma or whitespace separated)."""
    p = Path(path)
    if not p.is_file():
        raise ScheduleError(f"cannot read {what} file {str(p)!r}: no such file")
    try:
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)
        else:
            text = p.read_text().replace(",", " ").split()
            a = np.array([float(x) for x in text], dtype=np.float64)
    except (ValueError, OSError) as e:
        raise ScheduleError(f"cannot read {what} file {str(p)!r}: {e}") from None
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    return torch.from_numpy(a.copy())


def rescale_zero_terminal_snr(beta) -> torch.Tensor:
    """Rescale a schedule so that ᾱ_T = 0 (Lin et al. 2024, Algorithm 1), keeping √ᾱ_1."""
    b = validate_beta(beta)
    sab = torch.exp(0.5 * torch.cumsum(torch.log1p(-b), 0))
    s0, sT = sab[0].clone(), sab[-1].clone()
    sab = (sab - sT) * s0 / (s0 - sT)
    ab = sab**2
    alpha = torch.cat([ab[:1], ab[1:] / ab[:-1]])
    return validate_beta(1 - alpha)
