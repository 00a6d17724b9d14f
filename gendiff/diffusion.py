"""Gaussian operations of the generalized model, named after the paper's distributions.

All take batched floating-point torch tensors (B, ...) of one shape and 1-based steps t of shape (B,)
(the rules of :mod:`gendiff.checks`: no numpy arrays, no integer data, no broadcasting of t); ξ may be
None in every function, meaning ξ = 0.  Coefficient tables are float64 and cast to the input's
dtype/device by :func:`gendiff.tables.extract`.

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

import weakref

import torch

from .checks import data_tensor, same_shape, steps
from .tables import Tables, extract


def _check(t, tables: Tables, ref_name: str, ref, **others) -> None:
    """The edge rules of :mod:`gendiff.checks`: floating tensors of one shape (B, ...), ξ may be None, t (B,)."""
    if not isinstance(tables, Tables):
        raise TypeError(f"tables must be a gendiff.tables.Tables (from build_tables), got {type(tables).__name__}")
    data_tensor(ref, ref_name)
    if ref.ndim < 1:
        raise ValueError(f"{ref_name} must have a batch dimension (B, ...), got a 0-d tensor")
    for k, o in others.items():
        data_tensor(o, k, optional=k == "xi")
    steps(t, ref.shape[0], tables.T)
    same_shape(ref, ref_name, **others)


# Per-Tables cache of derived coefficient tables; an entry lives as long as its Tables object
# (weakref.finalize drops it, so a recycled id() never meets a stale entry).
_CACHE: dict[int, dict] = {}


def _cached(tables: Tables, key, make):
    entry = _CACHE.get(id(tables))
    if entry is None:
        entry = _CACHE[id(tables)] = {}
        weakref.finalize(tables, _CACHE.pop, id(tables), None)
    if key not in entry:
        entry[key] = make()
    return entry[key]


def gather_columns(tables: Tables, build, t: torch.Tensor, *, device, dtype, ndim: int) -> tuple[torch.Tensor, ...]:
    """The k columns of build(tables), a (T, k) float64 table, at 1-based steps t (B,), each (B, 1, ..., 1).

    The (T, k) table is built and cast to (device, dtype) once per Tables object and kept; the cast is
    the last operation, as in :func:`gendiff.tables.extract`.  Each call is one (B, k) gather; `ndim`
    is the number of dimensions of the samples the columns broadcast over.
    """
    cols = _cached(tables, (build, torch.device(device), dtype), lambda: build(tables).to(device).to(dtype))
    g = cols.index_select(0, t.to(cols.device) - 1)
    shape = (-1,) + (1,) * (ndim - 1)
    return tuple(col.reshape(shape) for col in g.unbind(1))


def _q_sample_columns(tables: Tables) -> torch.Tensor:
    """(T, 3): √ᾱ_t, σ_0 √(1-ᾱ_t), ψ_t √(1-ᾱ_t) [forward.psi]."""
    s = tables.one_minus_alpha_bar.sqrt()
    return torch.stack([tables.alpha_bar.sqrt(), tables.sigma0 * s, tables.psi * s], 1)


def q_sample(x0, t, noise, xi, tables: Tables, *, out=None):
    """x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ) (closed-form forward marginal).

    x0, noise, xi: (B, ...), xi may be None (ξ = 0); t: 1-based (B,).  Dtype and device follow the inputs.
    One (B, 3) gather of cached coefficients, then one fresh output updated in place (no other
    full-size temporary); the ξ term is skipped when ψ ≡ 0.  `out`: a preallocated result (x0's shape;
    it may be x0 itself, never noise or xi), which saves the allocation.
    """
    _check(t, tables, "x0", x0, noise=noise, xi=xi)
    dtype = torch.promote_types(x0.dtype, noise.dtype)
    if xi is not None:
        dtype = torch.promote_types(dtype, xi.dtype)
    a, b, c = gather_columns(tables, _q_sample_columns, t, device=x0.device, dtype=dtype, ndim=x0.ndim)
    if out is not None and any(o is not None and o.data_ptr() == out.data_ptr() for o in (noise, xi)):
        raise ValueError("out must not share memory with noise or xi (they are read after out is written)")
    out = torch.mul(x0, a, out=out) if out is not None else torch.mul(x0, a)
    out.addcmul_(noise, b)
    if xi is not None and not _cached(tables, "psi_is_zero", lambda: not bool(tables.psi.any())):
        out.addcmul_(xi, c)
    return out


def q_step(x_prev, t, noise, xi, tables: Tables):
    """One forward step x_t = √α_t (x_{t-1} + γ_t ξ) + √β_t σ_0 ε."""
    _check(t, tables, "x_prev", x_prev, noise=noise, xi=xi)
    a = extract(tables.alpha, t, x_prev)
    shifted = x_prev if xi is None else x_prev + extract(tables.gamma, t, x_prev) * xi
    return a.sqrt() * shifted + (extract(tables.beta, t, x_prev).sqrt() * tables.sigma0) * noise


def q_posterior(x_t, x0, xi, t, tables: Tables):
    """(mean, variance) of q(x_{t-1} | x_t, x_0, ξ); variance has shape (B, 1, ..., 1)."""
    _check(t, tables, "x_t", x_t, x0=x0, xi=xi)
    mean = extract(tables.post_coef_x0, t, x_t) * x0 + extract(tables.post_coef_xt, t, x_t) * x_t
    if xi is not None:
        mean = mean + extract(tables.post_coef_xi, t, x_t) * xi
    return mean, extract(tables.post_var, t, x_t)


def target_eps(noise, xi, t, tables: Tables):
    """The ε-target σ_0 ε + ϕ_t ξ."""
    _check(t, tables, "noise", noise, xi=xi)
    if xi is None:
        return tables.sigma0 * noise
    return tables.sigma0 * noise + extract(tables.phi, t, noise) * xi


def v_from_eps(eta, x0, t, tables: Tables):
    """v = √ᾱ_t η - √(1-ᾱ_t) x_0."""
    _check(t, tables, "x0", x0, eta=eta)
    return extract(tables.alpha_bar, t, x0).sqrt() * eta - extract(tables.one_minus_alpha_bar, t, x0).sqrt() * x0


def eps_from_v(v, x_t, t, tables: Tables):
    """η̂ = √ᾱ_t v̂ + √(1-ᾱ_t) x_t (exact when ψ_t = ϕ_t)."""
    _check(t, tables, "x_t", x_t, v=v)
    return extract(tables.alpha_bar, t, x_t).sqrt() * v + extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * x_t


def x0_from_v(v, x_t, t, tables: Tables):
    """x̂_0 = √ᾱ_t x_t - √(1-ᾱ_t) v̂ (exact when ψ_t = ϕ_t)."""
    _check(t, tables, "x_t", x_t, v=v)
    return extract(tables.alpha_bar, t, x_t).sqrt() * x_t - extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * v


def x0_from_eps(eta, x_t, t, tables: Tables):
    """x̂_0 = (x_t - √(1-ᾱ_t) η̂)/√ᾱ_t (exact when ψ_t = ϕ_t); needs ᾱ_t > 0."""
    _check(t, tables, "x_t", x_t, eta=eta)
    ab = extract(tables.alpha_bar, t, x_t)
    if (ab == 0).any():
        raise ValueError("ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR): use v-prediction")
    return (x_t - extract(tables.one_minus_alpha_bar, t, x_t).sqrt() * eta) / ab.sqrt()
