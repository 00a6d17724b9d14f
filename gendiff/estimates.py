"""Conditional-mean estimates (x̂_0, ξ̂) from a network's output, exact for every γ [result 'xi_posterior'].

With a = √ᾱ_t, s = √(1-ᾱ_t), x_t = a x_0 + s(σ_0 ε + ψ_t ξ) and the ε-target η = σ_0 ε + ϕ_t ξ, let
d = ψ_t − ϕ_t and u = E[σ_0 ε + ψ_t ξ | x_t].  An MSE-optimal network gives

| pred  | output            | e (what ξ̂ is solved from)      | D (its ξ-weight) | x̂_0                        |
|-------|-------------------|--------------------------------|------------------|----------------------------|
| `eps` | η̂ = E[η | x_t]   | η̂ = u − d ξ̂                    | d                | (x_t − s(η̂ + d ξ̂))/a       |
| `v`   | v̂ = a η̂ − s x̂_0 | a v̂ + s x_t = u − a² d ξ̂       | a² d             | a x_t − s v̂ − a s d ξ̂      |

and ξ̂ = E[ξ | x_t] = `xi_family.posterior_mean(e, ψ_t, σ_0, D)`.  With ψ_t = ϕ_t (balanced, DDPM,
constant offset) d = 0 and x̂_0 does not depend on ξ̂ (result 'vpred').

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .tables import Tables, extract
from .xi import XiFamily

PREDICTIONS = ("eps", "v")


def split_output(out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, tables: Tables, xi_family: XiFamily, *,
                 pred: str = "eps") -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂_0, ξ̂) = (E[x_0 | x_t], E[ξ | x_t]) from the network output `out` (B, ...) at 1-based steps t (B,).

    Dtype and device follow x_t.  ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR): it raises.
    """
    if pred not in PREDICTIONS:
        raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")
    if out.shape != x_t.shape:
        raise ValueError(f"model output has shape {tuple(out.shape)}, expected {tuple(x_t.shape)}")
    ab = extract(tables.alpha_bar, t, x_t)
    a, s = ab.sqrt(), extract(tables.one_minus_alpha_bar, t, x_t).sqrt()
    psi = extract(tables.psi, t, x_t)
    d = psi - extract(tables.phi, t, x_t)
    if pred == "eps":
        if bool((ab == 0).any()):
            raise ValueError("ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR): use v-prediction")
        xi_hat = xi_family.posterior_mean(out, psi, tables.sigma0, d)
        return (x_t - s * (out + d * xi_hat)) / a, xi_hat
    xi_hat = xi_family.posterior_mean(a * out + s * x_t, psi, tables.sigma0, a * a * d)
    return a * x_t - s * out - (a * s * d) * xi_hat, xi_hat
