"""The diffusers boundary of the generalized schedulers: timestep conversion and configuration → β.

diffusers' timesteps are 0-based (k = 0..T-1), gendiff's steps 1-based (t = 1..T, tables indexed t-1):
timestep k is t = k + 1 [CONVENTIONS "diffusers boundary"].  :func:`to_step` and :func:`to_timestep` are
the only two places that convert, and every message they give speaks in k.

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..samplers import SPACINGS
from ..schedules import make_beta, rescale_zero_terminal_snr

FAMILIES = ("per_channel", "brightness", "dirac")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "sample"}


def _int(value, name: str) -> int:
    """An integer-valued timestep (int, integral float or one-element tensor) as an int, or TypeError."""
    if torch.is_tensor(value):
        if value.numel() != 1:
            raise ValueError(f"{name} must be one timestep, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value != int(value):
        raise TypeError(f"{name} must be an integer (diffusers' 0-based timestep), got {value!r}")
    return int(value)


def to_step(timestep, batch: int | None = None, device=None, T: int | None = None) -> torch.Tensor:
    """diffusers' 0-based timestep(s) k → gendiff's 1-based steps t = k + 1, as a long tensor (B,).

    batch: one timestep is broadcast to it, otherwise the count must match; T: k must lie in 0..T-1.
    """
    k = torch.as_tensor(timestep, device=device)
    if k.is_floating_point() or k.dtype == torch.bool:
        if k.dtype == torch.bool or not bool((k == k.round()).all()):
            raise TypeError(f"timesteps must be integers (diffusers' 0-based k), got {timestep!r}")
    t = k.to(torch.long).reshape(-1) + 1
    if batch is not None and t.numel() != batch:
        if t.numel() != 1:
            raise ValueError(f"timesteps must be one value or one per sample: got {t.numel()} for a batch of {batch}")
        t = t.expand(batch)
    if T is not None and t.numel():
        lo, hi = torch.aminmax(t)
        if int(lo) < 1 or int(hi) > T:
            raise ValueError(f"timesteps must lie in 0..{T - 1} (diffusers' 0-based k), "
                             f"got range {int(lo) - 1}..{int(hi) - 1}")
    return t


def to_timestep(t):
    """gendiff's 1-based step(s) t → diffusers' 0-based timestep k = t - 1 (int or long tensor)."""
    return t - 1


def betas_from_config(cfg) -> torch.Tensor:
    """β_1..β_T (float64) from a diffusers scheduler configuration."""
    T = cfg.num_train_timesteps
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"num_train_timesteps must be an integer >= 1, got {T!r}")
    if cfg.trained_betas is not None:
        b = torch.as_tensor(np.asarray(cfg.trained_betas, dtype=np.float64))
        if b.shape != (T,):
            raise ValueError(f"trained_betas must have num_train_timesteps = {T} entries, got {tuple(b.shape)}")
    elif cfg.beta_schedule == "linear":
        b = torch.linspace(cfg.beta_start, cfg.beta_end, T, dtype=torch.float64)
    elif cfg.beta_schedule == "scaled_linear":
        b = torch.linspace(math.sqrt(cfg.beta_start), math.sqrt(cfg.beta_end), T, dtype=torch.float64) ** 2
    elif cfg.beta_schedule == "squaredcos_cap_v2":
        b = make_beta("cosine", T)
    else:
        raise ValueError(f"beta_schedule must be one of {BETA_SCHEDULES} (or give trained_betas), "
                         f"got {cfg.beta_schedule!r}")
    return rescale_zero_terminal_snr(b) if cfg.rescale_betas_zero_snr else b



def _number(value, name: str, lo: float, hi: float, what: str):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be {what}, got {value!r}")


#: step options with diffusers' defaults, for a subclass whose configuration does not declare them all
OPTION_DEFAULTS = dict(thresholding=False, dynamic_thresholding_ratio=0.995, sample_max_value=1.0, clip_sample=False,
                       clip_sample_range=1.0, steps_offset=0)


def options(cfg) -> dict:
    """The step options of a configuration (OPTION_DEFAULTS where it has no such key)."""
    return {k: cfg.get(k, v) for k, v in OPTION_DEFAULTS.items()}


def validate_options(cfg) -> None:
    """One-line ValueErrors for the configuration keys that are plain options (β and γ are checked where built)."""
    if cfg.prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type must be one of {sorted(PREDICTION_TYPES)}, got {cfg.prediction_type!r}")
    if cfg.timestep_spacing not in SPACINGS:
        raise ValueError(f"timestep_spacing must be one of {SPACINGS}, got {cfg.timestep_spacing!r}")
    opt = options(cfg)
    _number(opt["dynamic_thresholding_ratio"], "dynamic_thresholding_ratio", 0, 1, "a number in [0, 1]")
    mx, r = opt["sample_max_value"], opt["clip_sample_range"]
    _number(mx, "sample_max_value", 1, math.inf, "a finite number >= 1")
    if not math.isfinite(mx):
        raise ValueError(f"sample_max_value must be a finite number >= 1, got {mx!r}")
    _number(r, "clip_sample_range", 0, math.inf, "a finite number > 0")
    if not 0 < r < math.inf:
        raise ValueError(f"clip_sample_range must be a finite number > 0, got {r!r}")
    off = opt["steps_offset"]
    if isinstance(off, bool) or not isinstance(off, (int, np.integer)) or off < 0:
        raise ValueError(f"steps_offset must be an integer >= 0, got {off!r}")
    sc = cfg.sigma_c
    if isinstance(sc, bool) or not isinstance(sc, (int, float)) or not 0 <= sc < math.inf:
        raise ValueError(f"sigma_c (std of each z of q(ξ)) must be a finite number >= 0, got {sc!r}")
    if cfg.xi_family not in FAMILIES:
        raise ValueError(f"xi_family must be one of {FAMILIES}, got {cfg.xi_family!r}")
