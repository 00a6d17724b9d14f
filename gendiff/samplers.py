"""Samplers: plain functions sharing one signature
``sampler(model, shape, tables, xi_start, *, pred, generator, device, dtype, progress, x_T)``.

`model(x_t, t)` returns the ε-target estimate (pred='eps') or v (pred='v'); `t` is 1-based (B,).
Every sampler starts at x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ) = `xi_start` (or at the given `x_T`), turns the
network output into (x̂_0, ξ̂) = (E[x_0 | x_t], E[ξ | x_t]) with :func:`gendiff.estimates.split_output`
[result 'xi_posterior'], and adds no noise at its last step.

| sampler     | step                                                                 | statement            |
|-------------|----------------------------------------------------------------------|----------------------|
| `ancestral` | x_{t-1} = A_t x̂_0 + B_t x_t + C_t ξ̂ + σ_t z  (T network calls)      | posterior.*          |
| `ddim`      | jump t → s of :func:`ddim_step` on a `timesteps` grid (η = 0: ODE)   | ddim.*               |

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import numpy as np
import torch

from .estimates import PREDICTIONS, split_output
from .tables import Tables, extract
from .xi import Dirac, XiFamily

SPACINGS = ("trailing", "leading", "linspace")


def _progress(it, enabled, desc):
    if not enabled:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, desc=desc, leave=False)


def _start(shape, tables: Tables, xi_start: XiFamily, generator, device, dtype, x_T):
    """x_T ~ N(ξ, σ_0² I) with ξ ~ q(ξ) (ξ first, then ε, from `generator`), or the given x_T."""
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
        return x_T.to(device=device, dtype=dtype)
    xi = xi_start.sample(shape, generator=generator, device=device, dtype=dtype)
    return xi + tables.sigma0 * torch.randn(shape, generator=generator, device=device, dtype=dtype)


def timesteps(T: int, steps: int, spacing: str = "trailing") -> list[int]:
    """Descending 1-based steps at which a few-step sampler calls the model (diffusers' `timestep_spacing`).

    diffusers' 0-based timestep k is t = k + 1 here: 'trailing' k = round(T - i·T/steps) - 1, 'leading'
    k = i·⌊T/steps⌋, 'linspace' k = round(linspace(0, T-1, steps)), i = 0..steps-1.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..T = {T}, got {steps!r}")
    if spacing == "trailing":        # the float arange can overshoot by one entry (≈ 0, i.e. k = -1): keep `steps`
        k = np.round(np.arange(T, 0, -T / steps)[:steps]).astype(np.int64) - 1
    elif spacing == "leading":
        k = (np.arange(steps) * (T // steps))[::-1]
    elif spacing == "linspace":
        k = np.linspace(0, T - 1, steps).round().astype(np.int64)[::-1]
    else:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    return [int(v) + 1 for v in k]


def _with_step0(table: torch.Tensor, value: float) -> torch.Tensor:
    """The table with step 0 prepended (index s holds step s): ᾱ_0 = 1, 1 - ᾱ_0 = 0, c_0 = 0."""
    return torch.cat([table.new_full((1,), value), table])


def ddim_step(x_t, x0_hat, xi_hat, t, s, tables: Tables, *, eta: float = 0.0, noise=None):
    """Jump from step t to s < t (s = 0: the final x_0) keeping q(x_s | x_0, ξ) [result 'ddim'].

    x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k (x_t - √ᾱ_t x̂_0 - c_t ξ̂) + std·z with DDIM's
    std² = η² σ_0² (1-ᾱ_s)/(1-ᾱ_t) (1 - ᾱ_t/ᾱ_s) and k = √((1-ᾱ_s - std²/σ_0²)/(1-ᾱ_t)).
    η = 0 is deterministic; s = t-1, η = 1 is the ancestral step (std² = σ_0² β̃_t).
    t, s: 1-based (B,) integer tensors; `noise` (like x_t) is needed when η > 0 and s > 0.
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    if bool((s < 0).any()) or bool((s >= t).any()):
        raise ValueError("each jump must go from t to some s with 0 <= s < t")
    ab_t = extract(tables.alpha_bar, t, x_t)
    om_t = extract(tables.one_minus_alpha_bar, t, x_t)
    c_t = extract(tables.c, t, x_t)
    ab_s = extract(_with_step0(tables.alpha_bar, 1.0), s + 1, x_t)
    om_s = extract(_with_step0(tables.one_minus_alpha_bar, 0.0), s + 1, x_t)
    c_s = extract(_with_step0(tables.c, 0.0), s + 1, x_t)
    r = ab_t / ab_s
    var_rel = (eta * eta) * (om_s / om_t) * (1 - r)                    # std² / σ_0²
    k = (om_s * ((1 - eta * eta) * (1 - r) + r * om_s)).sqrt() / om_t  # a sum of terms ≥ 0 [ddim.k_ddim]
    sq_ab_t, sq_ab_s = ab_t.sqrt(), ab_s.sqrt()
    x = sq_ab_s * x0_hat + c_s * xi_hat + k * (x_t - sq_ab_t * x0_hat - c_t * xi_hat)
    if eta > 0 and bool((s > 0).any()):
        if noise is None:
            raise ValueError("a stochastic jump (eta > 0) needs `noise`")
        x = x + (tables.sigma0 * var_rel.sqrt()) * noise
    return x


def _check_pred(pred):
    if pred not in PREDICTIONS:
        raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")


@torch.no_grad()
def ancestral(model, shape, tables: Tables, xi_start: XiFamily, *, pred: str = "eps", generator=None,
              device=None, dtype=torch.float32, progress: bool = False, x_T=None):
    """Ancestral sampling (Algorithm 2 of Ho et al. 2020, generalised) from x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ).

    Mean μ_θ = A_t x̂_0 + B_t x_t + C_t ξ̂ (result 'posterior'), exact for any γ; variance σ_t² =
    tables.sigma2, no noise at t = 1.  The model is called at t = T, T-1, ..., 1.  Returns x_0 (`dtype`).
    """
    _check_pred(pred)
    tables = tables.to(device) if device is not None else tables
    x = _start(shape, tables, xi_start, generator, device, dtype, x_T)
    B = shape[0]
    for step in _progress(range(tables.T, 0, -1), progress, "sampling"):
        t = torch.full((B,), step, device=x.device, dtype=torch.long)
        x0_hat, xi_hat = split_output(model(x, t), x, t, tables, xi_start, pred=pred)
        mean = (extract(tables.post_coef_x0, t, x) * x0_hat + extract(tables.post_coef_xt, t, x) * x
                + extract(tables.post_coef_xi, t, x) * xi_hat)
        if step > 1:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + extract(tables.sigma2, t, x).sqrt() * noise
        else:
            x = mean
    return x


@torch.no_grad()
def ddim(model, shape, tables: Tables, xi_start: XiFamily, *, steps: int = 50, eta: float = 0.0,
         spacing: str = "trailing", pred: str = "eps", generator=None, device=None, dtype=torch.float32,
         progress: bool = False, x_T=None, stock_update: bool = False):
    """Generalized DDIM (Song et al. 2021, Algorithm of §4.1 with ξ): `steps` jumps of :func:`ddim_step`.

    The model is called at `timesteps(T, steps, spacing)`; each jump goes to the next grid step and the
    last one to s = 0 (no noise).  ξ̂ = E[ξ | x_t] under q(ξ) = `xi_start` (result 'xi_posterior').
    stock_update=True sets ξ̂ = 0 (the update of a stock DDIM scheduler); it exists only to measure
    what that does to a model trained with ξ — the start is still x_T ~ N(ξ, σ_0² I) (pass `x_T` or a
    Dirac `xi_start` to start where a stock pipeline starts).
    """
    _check_pred(pred)
    tables = tables.to(device) if device is not None else tables
    grid = timesteps(tables.T, steps, spacing)
    post = Dirac() if stock_update else xi_start
    x = _start(shape, tables, xi_start, generator, device, dtype, x_T)
    B = shape[0]
    for i in _progress(range(len(grid)), progress, "sampling"):
        t = torch.full((B,), grid[i], device=x.device, dtype=torch.long)
        s = torch.full((B,), grid[i + 1] if i + 1 < len(grid) else 0, device=x.device, dtype=torch.long)
        x0_hat, xi_hat = split_output(model(x, t), x, t, tables, post, pred=pred)
        noise = None
        if eta > 0 and i + 1 < len(grid):
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = ddim_step(x, x0_hat, xi_hat, t, s, tables, eta=eta, noise=noise)
    return x
