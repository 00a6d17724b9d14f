"""The per-step arithmetic of the generalized diffusers schedulers: one jump t → s as a fused linear map.

The generalized DDIM jump [result 'ddim'] x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k (x_t − √ᾱ_t x̂_0 − c_t ξ̂) + std·z is
linear in (x_t, x̂_0, ξ̂, z).  :func:`jump_coefs` reads its four coefficients off the core engine
:func:`gendiff.samplers.ddim_step` itself (applied once, in float64, to the unit vectors), once per jump and
η; :func:`apply_jump` then costs a few fused tensor operations per call.  (x̂_0, ξ̂) come from
:func:`gendiff.estimates.split_with` with the same float coefficients [result 'xi_posterior'].

With clipping or dynamic thresholding x̂_0 is replaced by its clipped value x̂_0ᶜ in the √ᾱ_s x̂_0 term;
the direction term keeps the unclipped x̂_0 unless use_clipped_model_output (stock DDIM's semantics;
stock DDPM's posterior mean uses x̂_0ᶜ in both, i.e. use_clipped_model_output=True).

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..estimates import split_with
from ..samplers import ddim_step
from ..tables import Tables


class JumpCoefs(NamedTuple):
    """Float coefficients of one jump t → s (1-based; s = 0: x_0) for the whole batch."""
    t: int
    s: int
    a: float          # √ᾱ_t
    sq: float         # √(1-ᾱ_t)
    psi: float        # ψ_t
    d: float          # ψ_t − ϕ_t
    ab_s: float       # √ᾱ_s  (coefficient of the clipped x̂_0)
    k: float          # coefficient of x_t
    x0: float         # √ᾱ_s − k √ᾱ_t  (coefficient of x̂_0 when direction and position use the same x̂_0)
    xi: float         # c_s − k c_t
    std: float        # coefficient of z


def jump_coefs(tables: Tables, t: int, s: int, eta: float, *, large: bool = False) -> JumpCoefs:
    """Coefficients of the jump t → s ≤ t at DDIM's η; large=True: std² = σ_0² (1 − ᾱ_t/ᾱ_s) (diffusers'
    variance_type='fixed_large', 'current_beta_t'), the mean that of η = 1.  s = t: the identity map."""
    i = t - 1
    a = float(tables.alpha_bar[i].sqrt())
    sq = float(tables.one_minus_alpha_bar[i].sqrt())
    psi, d = float(tables.psi[i]), float(tables.psi[i] - tables.phi[i])
    if s == t:
        return JumpCoefs(t, s, a, sq, psi, d, a, 1.0, 0.0, 0.0, 0.0)
    basis = torch.eye(4, dtype=torch.float64)                    # rows: x_t, x̂_0, ξ̂, z
    tt = torch.full((4,), t, dtype=torch.long)
    ss = torch.full((4,), s, dtype=torch.long)
    out = ddim_step(basis[:, :1], basis[:, 1:2], basis[:, 2:3], tt, ss, tables, eta=eta, noise=basis[:, 3:4])
    k, x0, xi, std = (float(v) for v in out[:, 0])
    ab_s = 1.0 if s == 0 else float(tables.alpha_bar[s - 1].sqrt())
    if large and s > 0:
        std = std * math.sqrt(float(tables.one_minus_alpha_bar[i] / tables.one_minus_alpha_bar[s - 1]))
    return JumpCoefs(t, s, a, sq, psi, d, ab_s, k, x0, xi, std)


def threshold(x0: torch.Tensor, ratio: float, max_value: float) -> torch.Tensor:
    """Dynamic thresholding (Saharia et al. 2022) with diffusers' semantics: per sample, s = the `ratio`
    quantile of |x̂_0| clamped to [1, max_value]; x̂_0 ← clamp(x̂_0, −s, s)/s.  Computed in float32 at least."""
    dtype = x0.dtype
    x = x0 if dtype in (torch.float32, torch.float64) else x0.float()
    flat = x.reshape(x.shape[0], -1)
    s = torch.quantile(flat.abs(), ratio, dim=1).clamp(min=1, max=max_value).unsqueeze(1)
    return (torch.clamp(flat, -s, s) / s).reshape(x0.shape).to(dtype)


def apply_jump(c: JumpCoefs, model_output, sample, *, sigma0: float, xi_family, pred: str, clip, use_clipped: bool,
               noise_fn):
    """(x_s, x̂_0ᶜ) for one jump with coefficients c.  clip: None or a function x̂_0 → x̂_0ᶜ; noise_fn() gives z
    (called only when std > 0); xi_family None: ξ ≡ 0."""
    x0u, xi_hat = split_with(model_output, sample, c.a, c.sq, c.psi, c.d, sigma0, xi_family, pred)
    x0c = x0u if clip is None else clip(x0u)
    if x0c is x0u or use_clipped:
        prev = torch.mul(x0c, c.x0)
    else:
        prev = torch.mul(x0c, c.ab_s).add_(x0u, alpha=c.x0 - c.ab_s)
    prev.add_(sample, alpha=c.k)
    if xi_hat is not None and c.xi != 0:
        prev.add_(xi_hat, alpha=c.xi)
    if c.std > 0:
        prev.add_(noise_fn(), alpha=c.std)
    return prev, x0c
