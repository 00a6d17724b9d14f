"""Conditional-mean estimates (x̂_0, ξ̂) from a network's output, exact for every γ [result 'xi_posterior'].

With a = √ᾱ_t, s = √(1-ᾱ_t), x_t = a x_0 + s(σ_0 ε + ψ_t ξ) and the ε-target η = σ_0 ε + ϕ_t ξ, let
d = ψ_t − ϕ_t and u = E[σ_0 ε + ψ_t ξ | x_t].  An MSE-optimal network gives

| pred     | output             | e (what ξ̂ is solved from)      | D (its ξ-weight) | x̂_0                        |
|----------|--------------------|--------------------------------|------------------|----------------------------|
| `eps`    | η̂ = E[η | x_t]    | η̂ = u − d ξ̂                    | d                | (x_t − s(η̂ + d ξ̂))/a       |
| `v`      | v̂ = a η̂ − s x̂_0  | a v̂ + s x_t = u − a² d ξ̂       | a² d             | a x_t − s v̂ − a s d ξ̂      |
| `sample` | x̂_0 = E[x_0 | x_t] | (x_t − a x̂_0)/s = u [xi_posterior.u_from_sample] | 0 | the output          |

and ξ̂ = E[ξ | x_t] = `xi_family.posterior_mean(e, ψ_t, σ_0, D)`.  With ψ_t = ϕ_t (balanced, DDPM,
constant offset) d = 0 and x̂_0 does not depend on ξ̂ (result 'vpred').

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .tables import Tables, extract
from .xi import XiFamily

PREDICTIONS = ("eps", "v", "sample")


def _is_zero(c) -> bool:
    return isinstance(c, (int, float)) and c == 0


def split_with(out, x_t, a, s, psi, d, sigma0: float, xi_family: XiFamily | None, pred: str):
    """(x̂_0, ξ̂) from the output, given the coefficients a = √ᾱ_t, s = √(1-ᾱ_t), ψ_t, d = ψ_t − ϕ_t as
    Python floats (one step for the whole batch) or (B, 1, ..., 1) tensors; the table above.

    xi_family=None means ξ ≡ 0 (then ξ̂ is None and d must be 0).  Float coefficients skip the terms
    whose coefficient is 0 and fuse the rest (the scheduler's per-step path).
    """
    scalar = isinstance(a, float)
    if pred == "sample":
        x0 = out
        xi_hat = None
        if xi_family is not None:
            e = torch.add(x_t, out, alpha=-a).mul_(1 / s) if scalar else (x_t - a * out) / s
            xi_hat = xi_family.posterior_mean(e, psi, sigma0, 0.0)
        return x0, xi_hat
    if pred == "eps":
        xi_hat = None if xi_family is None else xi_family.posterior_mean(out, psi, sigma0, d)
        x0 = torch.add(x_t, out, alpha=-s).mul_(1 / a) if scalar else (x_t - s * out) / a
        w = -s * d / a                                           # x̂_0 = (x_t − s η̂)/a − (s d/a) ξ̂
    else:
        xi_hat = None if xi_family is None else xi_family.posterior_mean(a * out + s * x_t, psi, sigma0, a * a * d)
        x0 = torch.add(x_t.mul(a), out, alpha=-s) if scalar else a * x_t - s * out
        w = -a * s * d
    if xi_hat is not None and not _is_zero(w):
        x0 = x0.add_(xi_hat, alpha=w) if scalar else x0 + w * xi_hat
    return x0, xi_hat


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
    if pred == "eps" and bool((ab == 0).any()):
        raise ValueError("ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR): use v-prediction")
    return split_with(out, x_t, a, s, psi, d, tables.sigma0, xi_family, pred)
