"""Gaussian operations of the generalized model, named after the paper's distributions.

All take batched tensors (B, ...) and 1-based steps t of shape (B,); coefficient tables are
float64 and cast to the input's dtype/device by :func:`gendiff.tables.extract`.

| function        | distribution / identity                                        | statement          |
|-----------------|----------------------------------------------------------------|--------------------|
| `q_sample`      | x_t ~ q(x_t|x_0,ξ) = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ)           | forward.*          |
| `q_step`        | x_t ~ q(x_t|x_{t-1},ξ) = √α_t(x_{t-1} + γ_t ξ) + √β_t σ_0 ε       | definition         |
| `q_posterior`   | mean A_t x_0 + B_t x_t + C_t ξ, variance σ_0² β̃_t (per component) | posterior.*        |
| `target_eps`    | σ_0 ε + ϕ_t ξ                                                   | elbo.phi           |
| `v_from_eps`... | v = √ᾱ η - √(1-ᾱ) x_0 and its inverses                          | vpred.*            |

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .tables import Tables, extract


def _check(x: torch.Tensor, t: torch.Tensor, tables: Tables, *others):
    if not torch.is_tensor(t) or t.dtype not in (torch.int32, torch.int64):
        raise TypeError("t must be an integer tensor of 1-based steps")
    if t.numel() and (int(t.min()) < 1 or int(t.max()) > tables.T):
        raise ValueError(f"t must lie in 1..T = {tables.T}, got range {int(t.min())}..{int(t.max())}")
    for o in others:
        if o is not None and o.shape != x.shape:
            raise ValueError(f"shape mismatch: {tuple(o.shape)} vs {tuple(x.shape)}")


def q_sample(x0, t, noise, xi, tables: Tables):
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ) (closed-form forward marginal)."""
    _check(x0, t, tables, noise, xi)
    ab = extract(tables.alpha_bar, t, x0)
    om = extract(tables.one_minus_alpha_bar, t, x0)
    return ab.sqrt() * x0 + om.sqrt() * (tables.sigma0 * noise + extract(tables.psi, t, x0) * xi)


def q_step(x_prev, t, noise, xi, tables: Tables):
    """One forward step x_t = √α_t (x_{t-1} + γ_t ξ) + √β_t σ_0 ε."""
    _check(x_prev, t, tables, noise, xi)
    a = extract(tables.alpha, t, x_prev)
    return a.sqrt() * (x_prev + extract(tables.gamma, t, x_prev) * xi) + \
        (extract(tables.beta, t, x_prev).sqrt() * tables.sigma0) * noise


def q_posterior(x_t, x0, xi, t, tables: Tables):
    """(mean, variance) of q(x_{t-1} | x_t, x_0, ξ); variance has shape (B, 1, ..., 1)."""
    _check(x_t, t, tables, x0, xi)
    mean = (extract(tables.post_coef_x0, t, x_t) * x0 + extract(tables.post_coef_xt, t, x_t) * x_t
            + extract(tables.post_coef_xi, t, x_t) * xi)
    return mean, extract(tables.post_var, t, x_t)


def target_eps(noise, xi, t, tables: Tables):
    """The ε-target σ_0 ε + ϕ_t ξ."""
    return tables.sigma0 * noise + extract(tables.phi, t, noise) * xi


def v_from_eps(eta, x0, t, tables: Tables):
    """v = √ᾱ_t η - √(1-ᾱ_t) x_0."""
    return extract(tables.alpha_bar, t, x0).sqrt() * eta - extract(tables.one_minus_alpha_bar, t, x0).sqrt() * x0


def eps_from_v(v, x_t, t, tables: Tables):
    """η̂ = √ᾱ_t v̂ + √(1-ᾱ_t) x_t (exact when ψ_t = ϕ_t)."""
    return extract(tables.alpha_bar, t, x_t).sqrt() * v + extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * x_t


def x0_from_v(v, x_t, t, tables: Tables):
    """x̂_0 = √ᾱ_t x_t - √(1-ᾱ_t) v̂ (exact when ψ_t = ϕ_t)."""
    return extract(tables.alpha_bar, t, x_t).sqrt() * x_t - extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * v


def x0_from_eps(eta, x_t, t, tables: Tables):
    """x̂_0 = (x_t - √(1-ᾱ_t) η̂)/√ᾱ_t (exact when ψ_t = ϕ_t); needs ᾱ_t > 0."""
    ab = extract(tables.alpha_bar, t, x_t)
    if (ab == 0).any():
        raise ValueError("ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR): use v-prediction")
    return (x_t - extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * eta) / ab.sqrt()
