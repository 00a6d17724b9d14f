"""Samplers: plain functions sharing one signature
``sampler(model, shape, tables, xi_start, *, pred, generator, device, dtype, progress)``.

`model(x_t, t)` returns the ε-target estimate (pred='eps') or v (pred='v'); `t` is 1-based.

There is no deterministic (DDIM) sampler: result 'ddim' proves that a marginal-preserving deterministic
step needs E[ξ | x_t], which a network trained on the paper's loss does not output, and that the only
ξ-free step of that family is the ancestral one below.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .diffusion import x0_from_eps, x0_from_v
from .tables import Tables, extract
from .xi import XiFamily


def _progress(it, enabled, desc):
    if not enabled:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, desc=desc, leave=False)


@torch.no_grad()
def ancestral(model, shape, tables: Tables, xi_start: XiFamily, *, pred: str = "eps", generator=None,
              device=None, dtype=torch.float32, progress: bool = False, x_T=None):
    """Ancestral sampling (Algorithm 2 of Ho et al. 2020) started at x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ).

    Mean μ_θ = A_t x̂_0 + B_t x_t, which equals (x_t - β_t/√(1-ᾱ_t) η̂)/√α_t when ψ_t = ϕ_t
    (result 'vpred'); variance σ_t² = tables.sigma2, no noise at t = 1.  Returns x_0 (float, `dtype`).
    """
    if pred not in ("eps", "v"):
        raise ValueError(f"pred must be 'eps' or 'v', got {pred!r}")
    tables = tables.to(device) if device is not None else tables
    if x_T is None:
        xi = xi_start.sample(shape, generator=generator, device=device, dtype=dtype)
        x = xi + tables.sigma0 * torch.randn(shape, generator=generator, device=device, dtype=dtype)
    else:
        x = x_T.to(device=device, dtype=dtype)
    B = shape[0]
    for step in _progress(range(tables.T, 0, -1), progress, "sampling"):
        t = torch.full((B,), step, device=x.device, dtype=torch.long)
        out = model(x, t)
        x0_hat = x0_from_eps(out, x, t, tables) if pred == "eps" else x0_from_v(out, x, t, tables)
        mean = extract(tables.post_coef_x0, t, x) * x0_hat + extract(tables.post_coef_xt, t, x) * x
        if step > 1:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + extract(tables.sigma2, t, x).sqrt() * noise
        else:
            x = mean
    return x
