"""Training loss shared by every method [2412.03134 §3.2.5, result 'elbo'].

ℓ = E_{ξ, t, ε}[ w_t ‖target - model(x_t, t)‖² ] with x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ) and
target σ_0 ε + ϕ_t ξ (ε-prediction) or v = √ᾱ_t(σ_0 ε + ϕ_t ξ) - √(1-ᾱ_t) x_0 (v-prediction).
Weights: 'simple' (w_t = 1) or 'elbo' (λ_t; for v, λ_t ᾱ_t, which equals the ε ELBO when ψ_t = ϕ_t).
The squared error is averaged over components.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .checks import data_tensor
from .diffusion import q_sample, target_eps, v_from_eps
from .tables import Tables, extract
from .xi import XiFamily

PREDICTIONS = ("eps", "v")
WEIGHTS = ("simple", "elbo")


def training_loss(model, x0: torch.Tensor, tables: Tables, xi_family: XiFamily, *, pred: str = "eps",
                  weight: str = "simple", t=None, noise=None, xi=None, generator=None) -> torch.Tensor:
    """Monte Carlo loss on a batch x0 (B, ...); t (1-based), noise, xi may be given for exactness.

    Here None for t, noise or xi means "draw it" (from `generator`); to train with ξ = 0, use the Dirac family.
    """
    if pred not in PREDICTIONS:
        raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {WEIGHTS}, got {weight!r}")
    data_tensor(x0, "x0")
    if x0.ndim < 1:
        raise ValueError("x0 must have a batch dimension (B, ...), got a 0-d tensor")
    B = x0.shape[0]
    if t is None:
        t = torch.randint(1, tables.T + 1, (B,), generator=generator, device=x0.device)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    if xi is None:
        xi = xi_family.sample(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = q_sample(x0, t, noise, xi, tables)
    eta = target_eps(noise, xi, t, tables)
    target = eta if pred == "eps" else v_from_eps(eta, x0, t, tables)
    out = model(x_t, t)
    if out.shape != target.shape:                 # a (B, 1) output would broadcast silently against (B, n)
        raise ValueError(f"model output has shape {tuple(out.shape)}, expected {tuple(target.shape)} (that of x0)")
    err = (out - target).pow(2).flatten(1).mean(1)
    if weight == "simple":
        return err.mean()
    lam = tables.lam if pred == "eps" else tables.lam_v
    w = extract(lam, t, err.unsqueeze(1)).squeeze(1)
    if not torch.isfinite(w).all():
        raise ValueError("ELBO weight is infinite at some t (α_t = 0, zero terminal SNR); use pred='v' "
                         "or weight='simple'")
    return (w * err).mean()
