"""Exact optimal predictors for Gaussian data x_0 ~ N(μ, Σ) and ξ ~ N(0, Σ_ξ) (ξ marginalised).

With a = √ᾱ_t, s = √(1-ᾱ_t): x_t = a x_0 + s(σ_0 ε + ψ_t ξ), η = σ_0 ε + ϕ_t ξ, all jointly Gaussian, so
E[η | x_t] = Cov(η, x_t) Cov(x_t)⁻¹ (x_t - a μ) with Cov(x_t) = a²Σ + s²(σ_0² I + ψ_t² Σ_ξ) and
Cov(η, x_t) = s(σ_0² I + ϕ_t ψ_t Σ_ξ); likewise E[x_0 | x_t] and E[ξ | x_t].  Computed in float64.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import torch

from ..tables import Tables


class GaussianOracle:
    """Callable as a model: oracle(x_t, t) -> E[target | x_t] for pred 'eps' or 'v'."""

    def __init__(self, mu, Sigma, xi_cov, tables: Tables, *, pred: str = "eps"):
        self.mu = torch.as_tensor(mu, dtype=torch.float64)
        self.S = torch.as_tensor(Sigma, dtype=torch.float64)
        self.Sx = torch.as_tensor(xi_cov, dtype=torch.float64)
        n = self.mu.shape[0]
        if self.S.shape != (n, n) or self.Sx.shape != (n, n):
            raise ValueError(f"Sigma and xi_cov must be ({n}, {n})")
        if pred not in ("eps", "v"):
            raise ValueError(f"pred must be 'eps' or 'v', got {pred!r}")
        self.tables, self.pred, self.n = tables, pred, n

    def gains(self, step: int):
        """(G_η, G_x0, G_ξ): E[· | x_t] = G (x_t - a μ) (+ μ for x_0), each (n, n), float64."""
        tb, i = self.tables, step - 1
        a, s = tb.alpha_bar[i].sqrt().item(), tb.one_minus_alpha_bar[i].sqrt().item()
        psi, phi, s0 = tb.psi[i].item(), tb.phi[i].item(), tb.sigma0
        eye = torch.eye(self.n, dtype=torch.float64)
        Cx = a * a * self.S + s * s * (s0 * s0 * eye + psi * psi * self.Sx)
        Cinv = torch.linalg.inv(Cx)
        G_eta = s * (s0 * s0 * eye + phi * psi * self.Sx) @ Cinv
        G_x0 = a * self.S @ Cinv
        G_xi = s * psi * self.Sx @ Cinv
        return G_eta, G_x0, G_xi, a, s

    def conditional_means(self, x_t, step):
        G_eta, G_x0, G_xi, a, s = self.gains(step)
        d = x_t.double() - a * self.mu.to(x_t.device)
        return (d @ G_eta.T.to(x_t.device), self.mu.to(x_t.device) + d @ G_x0.T.to(x_t.device),
                d @ G_xi.T.to(x_t.device), a, s)

    def __call__(self, x_t, t):
        step = int(t[0])
        if not bool((t == step).all()):
            raise ValueError("GaussianOracle expects one time step per batch")
        eta, x0, _, a, s = self.conditional_means(x_t, step)
        out = eta if self.pred == "eps" else a * eta - s * x0
        return out.to(x_t.dtype)


class EmpiricalOracle:
    """Exact optimal predictor for the empirical distribution of `points` (M, n), ξ marginalised.

    For ξ ~ N(0, σ_c² 1 1ᵀ) (σ_c = 0: no ξ), given x_0 = x_i the input x_t is Gaussian with
    covariance C = s²(σ_0² I + ψ_t² σ_c² 1 1ᵀ); the posterior over i is a softmax of
    -½ (x_t - a x_i)ᵀ C⁻¹ (x_t - a x_i), and with k = ψ²σ_c²/(σ_0² + nψ²σ_c²) (Sherman-Morrison)
    E[η | x_t] = (r̄ + κ (1ᵀr̄) 1)/s,  r̄ = x_t - a Σ_i w_i x_i,  κ = ϕψσ_c²(1 - k n)/σ_0² - k,
    E[x_0 | x_t] = Σ_i w_i x_i.  Float64, chunked over the batch.
    """

    def __init__(self, points, tables: Tables, *, sigma_c: float, pred: str = "v", chunk: int = 512):
        if pred not in ("eps", "v"):
            raise ValueError(f"pred must be 'eps' or 'v', got {pred!r}")
        self.P = torch.as_tensor(points, dtype=torch.float64)
        self.tables, self.sigma_c, self.pred, self.chunk = tables, float(sigma_c), pred, chunk
        self.Psq, self.Psum = (self.P**2).sum(1), self.P.sum(1)

    def to(self, device):
        self.P, self.Psq, self.Psum = self.P.to(device), self.Psq.to(device), self.Psum.to(device)
        return self

    def __call__(self, x_t, t):
        step = int(t[0])
        tb, i = self.tables, step - 1
        a, s = tb.alpha_bar[i].sqrt().item(), tb.one_minus_alpha_bar[i].sqrt().item()
        psi, phi, s0, sc2 = tb.psi[i].item(), tb.phi[i].item(), tb.sigma0, self.sigma_c**2
        n = x_t.shape[1]
        k = psi * psi * sc2 / (s0 * s0 + n * psi * psi * sc2)
        kappa = phi * psi * sc2 * (1 - k * n) / (s0 * s0) - k
        outs = []
        for xb in x_t.double().split(self.chunk):
            r2 = (xb**2).sum(1, keepdim=True) - 2 * a * xb @ self.P.T + a * a * self.Psq[None]
            r1 = xb.sum(1, keepdim=True) - a * self.Psum[None]
            logw = -0.5 * (r2 - k * r1 * r1) / (s * s * s0 * s0)
            w = torch.softmax(logw, dim=1)
            x0 = w @ self.P
            rbar = xb - a * x0
            eta = (rbar + kappa * rbar.sum(1, keepdim=True)) / s
            outs.append(eta if self.pred == "eps" else a * eta - s * x0)
        return torch.cat(outs).to(x_t.dtype)


class BrightnessGaussianOracle:
    """:class:`GaussianOracle` for ξ ~ N(0, σ_c² 1 1ᵀ) (the brightness family), fast for large n.

    Σ = Q Λ Qᵀ once (float64); then Cov(x_t) = Q(a²Λ + s²σ_0²)Qᵀ + s²ψ_t²σ_c² 1 1ᵀ is inverted per step by
    Sherman-Morrison in the eigenbasis (q = Qᵀ1), so a step costs two (B, n) × (n, n) products instead of an
    (n, n) inverse.  Same conditional means as GaussianOracle with xi_cov = σ_c² 1 1ᵀ
    (tests/test_regime_experiment.py compares the two on every method's tables).
    """

    def __init__(self, mu, Sigma, tables: Tables, *, sigma_c: float, pred: str = "v", eig=None):
        """eig: torch.linalg.eigh(Sigma) when already computed (it is not checked against Sigma)."""
        if pred not in ("eps", "v"):
            raise ValueError(f"pred must be 'eps' or 'v', got {pred!r}")
        self.mu = torch.as_tensor(mu, dtype=torch.float64)
        lam, Q = eig if eig is not None else torch.linalg.eigh(torch.as_tensor(Sigma, dtype=torch.float64))
        self.lam, self.Q, self.q = lam.clamp_min(0.0), Q, Q.sum(0)
        self.tables, self.sigma_c, self.pred = tables, float(sigma_c), pred

    def to(self, device):
        self.mu, self.lam, self.Q, self.q = (v.to(device) for v in (self.mu, self.lam, self.Q, self.q))
        return self

    def __call__(self, x_t, t):
        step = int(t[0])
        if not bool((t == step).all()):
            raise ValueError("BrightnessGaussianOracle expects one time step per batch")
        tb, i = self.tables, step - 1
        a, s = tb.alpha_bar[i].sqrt().item(), tb.one_minus_alpha_bar[i].sqrt().item()
        psi, phi, s0, sc2 = tb.psi[i].item(), tb.phi[i].item(), tb.sigma0, self.sigma_c**2
        dinv = 1.0 / (a * a * self.lam + s * s * s0 * s0)                  # diagonal part of Cov(x_t)⁻¹
        beta = s * s * psi * psi * sc2
        qd = self.q * dinv
        d = (x_t.double() - a * self.mu) @ self.Q                           # eigen coordinates
        y = d * dinv - (d @ qd)[:, None] * qd[None] * (beta / (1.0 + beta * (self.q @ qd)))   # Cov(x_t)⁻¹ d
        x0 = a * self.lam * y                                               # E[x_0 | x_t] - μ
        eta = s * (s0 * s0 * y + phi * psi * sc2 * (y @ self.q)[:, None] * self.q[None])
        out = (eta if self.pred == "eps" else a * eta - s * x0) @ self.Q.T
        if self.pred == "v":
            out = out - s * self.mu
        return out.to(x_t.dtype)
