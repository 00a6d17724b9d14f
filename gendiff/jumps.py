"""One jump t → s of a sampler, given the conditional means (x̂_0, ξ̂) = E[(x_0, ξ) | x_t].

Notation: α_t = √ᾱ_t (signal), σ_t = σ_0 √(1-ᾱ_t) (isotropic noise std), c_t the ξ-coefficient of
E[x_t | x_0, ξ] [result 'forward'], λ_t = log(α_t/σ_t), u_t = c_t/σ_t = ψ_t/σ_0; step 0 is x_0
(ᾱ_0 = 1, σ_0-noise 0, c_0 = 0).

| jump            | x_s                                                                      | statement          |
|-----------------|--------------------------------------------------------------------------|--------------------|
| `ddim_step`     | α_s x̂_0 + c_s ξ̂ + k (x_t − α_t x̂_0 − c_t ξ̂) + std·z                     | ddim.*             |
| `whitened_step` | α_s x̂_0 + c_s μ_ξ + C_s^{1/2} C_t^{-1/2} (x_t − α_t x̂_0 − c_t μ_ξ)      | jump_variance.*    |
| `dpm2m_step`    | (σ_s/σ_t) x_t + (α_s − α_t σ_s/σ_t) D_x + (c_s − c_t σ_s/σ_t) D_ξ        | dpm_solver.*       |
| `whitened2m_step` | the whitened jump from D_x, x̂_0 extrapolated per eigen-direction of Σ_ξ | dpm_solver.*       |

C_t = σ_0²(1-ᾱ_t) I + c_t² Σ_ξ is the noise covariance of q(x_t | x_0) (ξ marginalised).  D_x, D_ξ are
the multistep (2M, Lu et al. 2022 "midpoint") extrapolations of x̂_0 in λ and of ξ̂ in u from the previous
grid step; with D = the current means the update is the deterministic DDIM jump [dpm_solver.first_order_is_ddim].

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .tables import Tables, extract
from .xi import Dirac, Gaussian, XiFamily, _RankOne


def _with_step0(table: torch.Tensor, value: float) -> torch.Tensor:
    """The table with step 0 prepended (index s holds step s): ᾱ_0 = 1, 1 - ᾱ_0 = 0, c_0 = 0."""
    return torch.cat([table.new_full((1,), value), table])


def coefs(tables: Tables, t: torch.Tensor, like: torch.Tensor):
    """(ᾱ, 1-ᾱ, c) at 0-based-inclusive steps t (B,) (t = 0 is x_0), shaped like `like`."""
    return (extract(_with_step0(tables.alpha_bar, 1.0), t + 1, like),
            extract(_with_step0(tables.one_minus_alpha_bar, 0.0), t + 1, like),
            extract(_with_step0(tables.c, 0.0), t + 1, like))


def _check_jump(t, s):
    if bool((s < 0).any()) or bool((s >= t).any()):
        raise ValueError("each jump must go from t to some s with 0 <= s < t")


def ddim_step(x_t, x0_hat, xi_hat, t, s, tables: Tables, *, eta: float = 0.0, noise=None):
    """Jump from step t to s < t (s = 0: the final x_0) keeping q(x_s | x_0, ξ) [result 'ddim'].

    x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k (x_t - √ᾱ_t x̂_0 - c_t ξ̂) + std·z with DDIM's
    std² = η² σ_0² (1-ᾱ_s)/(1-ᾱ_t) (1 - ᾱ_t/ᾱ_s) and k = √((1-ᾱ_s - std²/σ_0²)/(1-ᾱ_t)).
    η = 0 is deterministic; s = t-1, η = 1 is the ancestral step (std² = σ_0² β̃_t).
    t, s: 1-based (B,) integer tensors; `noise` (like x_t) is needed when η > 0 and s > 0.
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
    _check_jump(t, s)
    ab_t, om_t, c_t = coefs(tables, t, x_t)
    ab_s, om_s, c_s = coefs(tables, s, x_t)
    r = ab_t / ab_s
    var_rel = (eta * eta) * (om_s / om_t) * (1 - r)                    # std² / σ_0²
    k = (om_s * ((1 - eta * eta) * (1 - r) + r * om_s)).sqrt() / om_t  # a sum of terms ≥ 0 [ddim.k_ddim]
    x = ab_s.sqrt() * x0_hat + c_s * xi_hat + k * (x_t - ab_t.sqrt() * x0_hat - c_t * xi_hat)
    if eta > 0 and bool((s > 0).any()):
        if noise is None:
            raise ValueError("a stochastic jump (eta > 0) needs `noise`")
        x = x + (tables.sigma0 * var_rel.sqrt()) * noise
    return x


def _spectral(xi_family: XiFamily, like: torch.Tensor):
    """The eigen-structure of Cov(ξ) for samples like `like`: ('iso',) | ('rank1', m σ_c², group dims) |
    ('gauss', V, eigenvalues, μ_ξ); refuses a family without one."""
    if isinstance(xi_family, Dirac) or (isinstance(xi_family, _RankOne) and xi_family.sigma_c == 0):
        return ("iso",)
    if isinstance(xi_family, _RankOne):
        dims = xi_family._groups(like)
        m = 1
        for d in dims:
            m *= like.shape[d]
        return ("rank1", m * xi_family.sigma_c ** 2, dims)
    if isinstance(xi_family, Gaussian):
        n = xi_family.m.shape[0]
        if like.ndim != 2 or like.shape[1] != n:
            raise ValueError(f"gaussian ξ has dimension {n}; got x_t of shape {tuple(like.shape)}")
        to = dict(device=like.device, dtype=like.dtype)
        return ("gauss", xi_family.evecs.to(**to), xi_family.evals.to(**to), xi_family.m.to(**to))
    raise ValueError(f"the whitened jump needs the covariance structure of q(ξ) (dirac, brightness, per_channel, "
                     f"gaussian), got {type(xi_family).__name__}; use rule='ddim'")


def _apply(spec, v, fn):
    """Σ_j fn(λ_j) P_j v over the eigenspaces P_j of Cov(ξ) (eigenvalue λ_j); fn(0) on the null space."""
    if spec[0] == "iso":
        return fn(0.0) * v
    if spec[0] == "rank1":
        f0, f1 = fn(0.0), fn(spec[1])
        return f0 * v + (f1 - f0) * v.mean(dim=spec[2], keepdim=True)
    V = spec[1]
    return ((v @ V) * fn(spec[2])) @ V.T


def _mu(spec, like):
    return spec[3] if spec[0] == "gauss" else torch.zeros((), device=like.device, dtype=like.dtype)


def whitened_step(x_t, x0_hat, t, s, tables: Tables, xi_family: XiFamily, *, d_x=None):
    """Deterministic jump x_s = √ᾱ_s D + c_s μ_ξ + C_s^{1/2} C_t^{-1/2} (x_t − √ᾱ_t D − c_t μ_ξ), D = x̂_0 (or d_x).

    It keeps q(x_s | x_0) (ξ marginalised) exactly for every x_0 and needs no ξ̂ [jump_variance.whitened_*].
    Per eigen-direction of Σ_ξ (eigenvalue λ_ξ) the factor is √((σ_0²(1-ᾱ_s) + c_s² λ_ξ)/(σ_0²(1-ᾱ_t) + c_t² λ_ξ)):
    brightness / per_channel (Σ_ξ = σ_c² 1 1ᵀ per group of m): λ_ξ = m σ_c² along the group mean, 0 across it
    (C^{±1/2} = k_⊥ I + (k_∥ − k_⊥) P, P the group-mean projection); dirac: DDIM's k; gaussian: its eigenbasis.
    """
    _check_jump(t, s)
    ab_t, om_t, c_t = coefs(tables, t, x_t)
    ab_s, om_s, c_s = coefs(tables, s, x_t)
    s02 = tables.sigma0 ** 2
    spec = _spectral(xi_family, x_t)
    mu = _mu(spec, x_t)
    D = x0_hat if d_x is None else d_x
    r = x_t - ab_t.sqrt() * D - c_t * mu
    return ab_s.sqrt() * D + c_s * mu + _apply(spec, r, lambda L: ((s02 * om_s + c_s * c_s * L)
                                                                  / (s02 * om_t + c_t * c_t * L)).sqrt())


def whitened2m_step(x_t, x0_hat, t, s, tables: Tables, xi_family: XiFamily, *, prev=None):
    """DPM-Solver++(2M) on the whitened flow: per eigen-direction of Σ_ξ, x̂_0 is extrapolated in
    λ' = log(√ᾱ/ν), ν² = σ_0²(1-ᾱ) + c² λ_ξ, and the whitened jump is taken from D [result 'dpm_solver'].
    prev = (t', x̂_0', ·) at the previous step; None, or s = 0, gives the whitened jump itself."""
    if prev is None or not bool((s > 0).all()):
        return whitened_step(x_t, x0_hat, t, s, tables, xi_family)
    s02 = tables.sigma0 ** 2
    spec = _spectral(xi_family, x_t)
    (ab_t, om_t, c_t), (ab_s, om_s, c_s) = coefs(tables, t, x_t), coefs(tables, s, x_t)
    ab_p, om_p, c_p = coefs(tables, prev[0], x_t)

    def weight(L):
        lt, ls, lp = (0.5 * (torch.log(ab) - torch.log(s02 * om + c * c * L))
                      for ab, om, c in ((ab_t, om_t, c_t), (ab_s, om_s, c_s), (ab_p, om_p, c_p)))
        h, h_p = ls - lt, lt - lp
        return torch.where(torch.isfinite(h_p), h / (2 * h_p), torch.zeros_like(h))
    d_x = x0_hat + _apply(spec, x0_hat - prev[1], weight)
    return whitened_step(x_t, x0_hat, t, s, tables, xi_family, d_x=d_x)


def dpm2m_step(x_t, x0_hat, xi_hat, t, s, tables: Tables, *, prev=None):
    """DPM-Solver++(2M) jump t → s with ξ [result 'dpm_solver']; prev = (t', x̂_0', ξ̂') at the previous step t' > t.

    D_x = x̂_0 + h/(2 h') (x̂_0 − x̂_0'), h = λ_s − λ_t, h' = λ_t − λ_{t'};  D_ξ = ξ̂ + Δ/(2 Δ') (ξ̂ − ξ̂'),
    Δ = u_s − u_t, Δ' = u_t − u_{t'}.  prev = None, or s = 0 (λ_0 = ∞, as diffusers' final step), gives the
    first-order update, which is the deterministic DDIM jump [dpm_solver.first_order_is_ddim].
    """
    _check_jump(t, s)
    s0 = tables.sigma0
    ab_t, om_t, c_t = coefs(tables, t, x_t)
    ab_s, om_s, c_s = coefs(tables, s, x_t)
    ratio = (om_s / om_t).sqrt()                                # σ_s/σ_t
    D_x, D_xi = x0_hat, xi_hat
    if prev is not None and bool((s > 0).all()):
        tp, x0_p, xi_p = prev
        ab_p, om_p, c_p = coefs(tables, tp, x_t)

        def lam(ab, om):                                        # λ = log(α/σ); −∞ at ᾱ = 0
            return 0.5 * (torch.log(ab) - torch.log(om)) - torch.log(torch.as_tensor(s0, dtype=ab.dtype))
        h, h_p = lam(ab_s, om_s) - lam(ab_t, om_t), lam(ab_t, om_t) - lam(ab_p, om_p)
        w_x = torch.where(torch.isfinite(h_p), h / (2 * h_p), torch.zeros_like(h))     # 1/(2 r)
        D_x = x0_hat + w_x * (x0_hat - x0_p)
        u_s, u_t, u_p = c_s / (s0 * om_s.sqrt()), c_t / (s0 * om_t.sqrt()), c_p / (s0 * om_p.sqrt())
        d_p = u_t - u_p
        w_xi = torch.where(d_p != 0, (u_s - u_t) / (2 * torch.where(d_p != 0, d_p, torch.ones_like(d_p))),
                           torch.zeros_like(d_p))
        D_xi = xi_hat + w_xi * (xi_hat - xi_p)
    return ratio * x_t + (ab_s.sqrt() - ab_t.sqrt() * ratio) * D_x + (c_s - c_t * ratio) * D_xi
