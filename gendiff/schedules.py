"""Noise schedules β_1..β_T (float64), with validation.

| name            | definition                                                                  |
|-----------------|-----------------------------------------------------------------------------|
| `linear`        | β_t evenly spaced from 1e-4 to 0.02 (Ho et al. 2020)                         |
| `scaled_linear` | √β_t evenly spaced from √0.00085 to √0.012 (Stable Diffusion)               |
| `cosine`        | ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2)/ᾱ(0), s = 0.008, β_t ≤ max_beta = 0.999 (Nichol & Dhariwal) |
| a FILE / array  | user-given β_1..β_T (.npy, .csv, .txt or .json)                             |

`linear` and `scaled_linear` take `beta_start`/`beta_end` (β_1, β_T), as diffusers' schedulers do.

β_T = 1 (zero terminal SNR, ᾱ_T = 0) is accepted here; what each consumer does with it is
documented where it matters (the balanced γ refuses it, ε-prediction at t = T refuses it).
:func:`terminal_snr_problem` tells that case apart from ᾱ_T underflowing float64 (very long schedules).

Files: read by :mod:`gendiff.arrayfiles` (the format comes from the suffix: .npy, .csv/.txt, .json; a table
written by `gendiff coefficients` gives its `beta` column, `FILE:NAME` another).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from .arrayfiles import FILE_SUFFIXES, ArrayFileError, load_array, read_column, split_spec  # noqa: F401
from .checks import integer, real_number
from .errors import InputError

NAMES = ("linear", "scaled_linear", "cosine")


class ScheduleError(InputError):
    """Invalid schedule, schedule argument or array file."""


def validate_beta(beta) -> torch.Tensor:
    """Return β as a 1-D float64 CPU tensor, or raise ScheduleError (TypeError for a non-array) saying what is wrong."""
    if isinstance(beta, (str, Path)):
        raise TypeError(f"beta must be a sequence of β_1..β_T (tensor, numpy array or list), got the string "
                        f"{str(beta)[:60]!r}: build it with make_beta({str(beta)[:60]!r}, T)")
    try:
        b = torch.as_tensor(beta, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"beta must be a sequence of real numbers β_1..β_T, got {type(beta).__name__} "
                        f"({' '.join(str(e).split())[:80]})") from None
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


def make_beta(name, T: int = 1000, *, beta_start=None, beta_end=None, max_beta=None) -> torch.Tensor:
    """β_1..β_T for a named schedule, a file path, or a sequence of numbers (float64).

    beta_start, beta_end: β_1 and β_T of `linear` (defaults 1e-4, 0.02) and `scaled_linear` (0.00085, 0.012),
    as diffusers' `beta_start`/`beta_end`.  max_beta: the cap on β_t of `cosine` (default 0.999, as diffusers'
    `betas_for_alpha_bar`).  A parameter a schedule does not have is refused.
    """
    if isinstance(name, (list, tuple, np.ndarray, torch.Tensor)):
        if (beta_start, beta_end, max_beta) != (None, None, None):
            raise ScheduleError("beta_start, beta_end and max_beta apply to named schedules, not to a given β array")
        return validate_beta(name)
    if not isinstance(name, (str, Path)):
        raise TypeError(f"schedule must be a name ({', '.join(NAMES)}), a file path or a sequence of β_t, "
                        f"got {type(name).__name__}")
    T = integer(T, "T")
    if T < 1:
        raise ScheduleError(f"T must be an integer >= 1, got {T!r}")
    given = {k: v for k, v in (("beta_start", beta_start), ("beta_end", beta_end), ("max_beta", max_beta))
             if v is not None}
    allowed = {"linear": ("beta_start", "beta_end"), "scaled_linear": ("beta_start", "beta_end"),
               "cosine": ("max_beta",)}.get(str(name), ())
    extra = [k for k in given if k not in allowed]
    if extra and str(name) in NAMES:
        raise ScheduleError(f"{', '.join(extra)} does not apply to the {name} schedule "
                            f"(it takes {', '.join(allowed) or 'no parameters'})")
    if extra:
        raise ScheduleError(f"{', '.join(extra)} applies to named schedules, not to a file of β_t")
    for k, v in given.items():
        given[k] = real_number(v, k)
        if not 0 < given[k] <= 1:
            raise ScheduleError(f"{k} must lie in (0, 1], got {v!r}")
    if name == "linear":
        b = torch.linspace(given.get("beta_start", 1e-4), given.get("beta_end", 0.02), T, dtype=torch.float64)
    elif name == "scaled_linear":
        lo, hi = given.get("beta_start", 0.00085), given.get("beta_end", 0.012)
        b = torch.linspace(math.sqrt(lo), math.sqrt(hi), T, dtype=torch.float64) ** 2
    elif name == "cosine":
        s = 0.008
        t = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        b = torch.clamp(1 - ab[1:] / ab[:-1], max=given.get("max_beta", 0.999))
    elif split_spec(name)[0].suffix in FILE_SUFFIXES:
        try:
            b = load_array(name, what="β", default_column="beta")
        except ArrayFileError as e:
            raise ScheduleError(str(e)) from None
    else:
        text = str(name) if len(str(name)) <= 60 else str(name)[:57] + "..."
        raise ScheduleError(f"unknown schedule {text!r}: use {', '.join(NAMES)}, or a "
                            f"{', '.join(FILE_SUFFIXES)} file of β_t")
    return validate_beta(b)


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
