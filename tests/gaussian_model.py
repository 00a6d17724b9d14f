"""Joint-Gaussian conditioning written out for the tests, independent of gendiff's estimates and oracles.

x_0 ~ N(μ, Σ), ξ ~ N(μ_ξ, Σ_ξ), ε ~ N(0, I) independent; with a = √ᾱ_t, s = √(1-ᾱ_t):
x_t = a x_0 + s(σ_0 ε + ψ_t ξ), the ε-target η = σ_0 ε + ϕ_t ξ and v = a η - s x_0.  Every conditional
mean is E[y | x_t] = E[y] + Cov(y, x_t) Cov(x_t)⁻¹ (x_t - E[x_t]), solved with torch.linalg.solve in
float64.  Coefficients come from the generated reference (`gendiff._reference`), not from the tables.
"""
from __future__ import annotations

import torch

from gendiff import _reference as R
from gendiff.schedules import make_beta
from gendiff.tables import build_tables
from gendiff.xi import Brightness

T64 = dict(dtype=torch.float64)


def scaled_linear_beta(T: int) -> torch.Tensor:
    """Ho et al.'s linear schedule stretched to T steps (β from 0.1/T to 20/T): every T discretises one
    continuous schedule, and ᾱ_T ≈ 2e-5..4e-5 for T ≥ 50."""
    return torch.linspace(0.1 / T, 20.0 / T, T, **T64)


def random_gamma(beta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random positive γ normalised to c_T = 1 (the reverse start N(ξ, σ_0² I) matches q(x_T)); ψ_t ≠ ϕ_t."""
    g = beta * (0.2 + torch.rand(beta.shape[0], generator=generator, **T64))
    return g / R.c(beta, g)[-1]


def smooth_gamma(beta: torch.Tensor) -> torch.Tensor:
    """A non-balanced γ that is a smooth profile in t/T (so that T → 2T refines one continuous schedule), c_T = 1."""
    x = torch.linspace(0, 1, beta.shape[0], **T64)
    g = beta * (1 + 0.5 * torch.sin(7 * x) + 0.3 * torch.cos(13 * x))
    return g / R.c(beta, g)[-1]


class GaussianModel:
    """The exact conditional means of the linear-Gaussian model at step t (1-based), for flat (B, n) inputs.

    Callable as a network: model(x_t, t) -> E[target | x_t] with target 'eps' (σ_0 ε + ϕ_t ξ) or 'v'.
    """

    def __init__(self, mu, Sigma, xi_mean, xi_cov, beta, gamma, sigma0: float, *, pred: str = "eps"):
        self.mu, self.S = torch.as_tensor(mu, **T64), torch.as_tensor(Sigma, **T64)
        self.mx, self.Sx = torch.as_tensor(xi_mean, **T64), torch.as_tensor(xi_cov, **T64)
        self.beta, self.gamma = torch.as_tensor(beta, **T64), torch.as_tensor(gamma, **T64)
        self.sigma0, self.pred, self.n = float(sigma0), pred, self.mu.shape[0]
        self.abar = torch.exp(R.log_alpha_bar(self.beta))
        self.psi, self.phi = R.psi(self.beta, self.gamma), R.phi(self.beta, self.gamma)
        self._gains = {}

    def gains(self, t: int):
        """(E[x_t], {name: (E[y], G_y)}) with E[y | x_t] = E[y] + G_y (x_t - E[x_t]) for y in x0, xi, eta, v."""
        if t not in self._gains:
            i = t - 1
            a, s = self.abar[i].sqrt(), (1 - self.abar[i]).sqrt()
            psi, phi, s0 = self.psi[i], self.phi[i], self.sigma0
            eye = torch.eye(self.n, **T64)
            mean_x = a * self.mu + s * psi * self.mx
            cov_x = a * a * self.S + s * s * (s0 * s0 * eye + psi * psi * self.Sx)
            cross = {"x0": (self.mu, a * self.S),                                # Cov(y, x_t)
                     "xi": (self.mx, s * psi * self.Sx),
                     "eta": (phi * self.mx, s * (s0 * s0 * eye + phi * psi * self.Sx))}
            cross["v"] = (a * cross["eta"][0] - s * self.mu, a * cross["eta"][1] - s * cross["x0"][1])
            # G = Cov(y, x_t) Cov(x_t)⁻¹, i.e. G Cov(x_t) = Cov(y, x_t): solve Cov(x_t) Gᵀ = Cov(y, x_t)ᵀ
            self._gains[t] = (mean_x, {k: (m, torch.linalg.solve(cov_x, c.T).T) for k, (m, c) in cross.items()})
        return self._gains[t]

    def mean(self, what: str, x_t: torch.Tensor, t: int) -> torch.Tensor:
        mean_x, g = self.gains(t)
        m, G = g[what]
        return (m + (x_t.double() - mean_x) @ G.T).to(x_t.dtype)

    def __call__(self, x_t, t):
        step = int(t[0])
        assert bool((t == step).all()), "one time step per batch"
        return self.mean("eta" if self.pred == "eps" else "v", x_t, step)


def data_moments(n: int, seed: int = 0):
    """A fixed Gaussian data distribution N(μ, Σ) with a strong brightness component (Σ ∋ 0.5·1 1ᵀ)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, **T64)
    return torch.randn(n, generator=g, **T64), A @ A.T / n + 0.2 * torch.eye(n, **T64) + 0.5 * torch.ones(n, n, **T64)


def abar_with_0(beta: torch.Tensor) -> torch.Tensor:
    """ᾱ_s for s = 0..T (index s; ᾱ_0 = 1), from the reference."""
    return torch.cat([torch.ones(1, **T64), torch.exp(R.log_alpha_bar(beta))])


def c_with_0(beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """c_s for s = 0..T (index s; c_0 = 0), from the reference."""
    return torch.cat([torch.zeros(1, **T64), R.c(beta, gamma)])


def gaussian_setup(n=3, T=20, *, gamma="random", pred="eps", sigma0=0.8, sigma_c=1.3, beta=None, seed=0):
    """(tables, brightness q(ξ), exact model, data (μ, Σ)) on the cosine schedule unless `beta` is given."""
    beta = make_beta("cosine", T) if beta is None else beta
    gam = random_gamma(beta, torch.Generator().manual_seed(seed + 100)) if gamma == "random" else gamma
    tb = build_tables(beta, gamma=gam, sigma0=sigma0)
    fam = Brightness(sigma_c=sigma_c)
    mu, S = data_moments(n, seed)
    return tb, fam, GaussianModel(mu, S, fam.mean(n), fam.cov(n), beta, tb.gamma, sigma0, pred=pred), (mu, S)
