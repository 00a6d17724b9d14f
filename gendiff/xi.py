"""Families q(ξ) of the additional ("offset") noise ξ [2412.03134 §3.1].

| name          | ξ for a sample of shape (B, *dims)                                       |
|---------------|--------------------------------------------------------------------------|
| `dirac`       | ξ = 0 (base model)                                                       |
| `brightness`  | ξ = σ_c z 1, z ~ N(0,1) per sample: q(ξ) = N(0, σ_c² 1 1ᵀ)               |
| `per_channel` | (B, C, H, W): one z per (sample, channel), broadcast over H, W           |
| `gaussian`    | (B, n): N(μ_ξ, Σ_ξ) with given mean and covariance                       |

Randomness enters only through `generator=`.

`posterior_mean(e, psi, sigma0, d=0)` is E[ξ | x_t] [result 'xi_posterior'] from the network's
conditional mean e = E[σ_0 ε + ψ_t ξ | x_t] − d·E[ξ | x_t] (d = 0 for an ε-network with ψ_t = ϕ_t;
see `gendiff.estimates` for d in general):

    ξ̂ = (I − d K_t)⁻¹ [μ_ξ + K_t (e − ψ_t μ_ξ)],   K_t = ψ_t Σ_ξ (σ_0² I + ψ_t² Σ_ξ)⁻¹.

Rank-one families (brightness: one group of all m components; per_channel: a group of m = H·W per
channel) use the Sherman–Morrison closed form ξ̂ = ψ σ_c² Σ_group e / (σ_0² + m ψ σ_c² (ψ − d)),
broadcast over the group; gaussian uses the eigenbasis of Σ_ξ computed once (no n×n inverse per step).
`psi` and `d` are floats or tensors broadcastable to (B, 1, ..., 1).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .checks import data_tensor, real_number


class XiFamily:
    name = "abstract"

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def cov(self, n: int) -> torch.Tensor:
        """Covariance of ξ for flat (B, n) samples (float64)."""
        raise NotImplementedError

    def mean(self, n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.float64)

    def posterior_mean(self, e: torch.Tensor, psi, sigma0: float, d=0.0) -> torch.Tensor:
        """E[ξ | x_t] (shape and dtype of e) from e = E[σ_0 ε + ψ_t ξ | x_t] − d E[ξ | x_t]; see module docstring."""
        raise NotImplementedError


class _RankOne(XiFamily):
    """ξ = σ_c z 1_group: Σ_ξ = σ_c² 1 1ᵀ on each group of components sharing one z (μ_ξ = 0)."""
    group_dims: tuple = ()

    def _groups(self, e: torch.Tensor) -> tuple:
        raise NotImplementedError

    def posterior_mean(self, e, psi, sigma0, d=0.0):
        data_tensor(e, "e")
        dims = self._groups(e)
        m = 1
        for k in dims:
            m *= e.shape[k]
        sc2 = self.sigma_c**2
        denom = sigma0**2 + m * psi * sc2 * (psi - d)
        if not bool(torch.as_tensor(denom > 0).all()):
            raise ValueError("E[ξ | x_t] is not identifiable here: σ_0² + m ψ σ_c² (ψ − d) must be > 0")
        return (psi * sc2 / denom) * e.sum(dim=dims, keepdim=True).expand_as(e)


class Dirac(XiFamily):
    name = "dirac"

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        return torch.zeros(shape, device=device, dtype=dtype)

    def cov(self, n):
        return torch.zeros(n, n, dtype=torch.float64)

    def posterior_mean(self, e, psi, sigma0, d=0.0):
        return torch.zeros_like(e)


def _check_scale(sigma_c):
    v = real_number(sigma_c, "sigma_c")
    if not (v >= 0) or v == float("inf"):
        raise ValueError(f"sigma_c must be a finite number >= 0, got {sigma_c!r}")
    return v


class Brightness(_RankOne):
    """q(ξ) = N(0, σ_c² 1 1ᵀ): one brightness offset per sample."""
    name = "brightness"

    def _groups(self, e):
        return tuple(range(1, e.ndim))

    def __init__(self, *, sigma_c: float):
        self.sigma_c = _check_scale(sigma_c)

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        z = torch.randn((shape[0],) + (1,) * (len(shape) - 1), generator=generator, device=device, dtype=dtype)
        return (self.sigma_c * z).expand(shape).contiguous()

    def cov(self, n):
        return torch.full((n, n), self.sigma_c**2, dtype=torch.float64)


class PerChannel(_RankOne):
    """Practitioners' offset noise shape: ξ[b, c, :, :] = σ_c z[b, c] for image tensors (B, C, H, W)."""
    name = "per_channel"

    def _groups(self, e):
        if e.ndim != 4:
            raise ValueError(f"per_channel ξ needs image shape (B, C, H, W), got {tuple(e.shape)}")
        return (2, 3)

    def cov(self, n):
        raise ValueError("per_channel ξ has no flat covariance: its groups are the H·W pixels of each channel")

    def __init__(self, *, sigma_c: float):
        self.sigma_c = _check_scale(sigma_c)

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        if len(shape) != 4:
            raise ValueError(f"per_channel ξ needs image shape (B, C, H, W), got {tuple(shape)}")
        z = torch.randn(shape[:2] + (1, 1), generator=generator, device=device, dtype=dtype)
        return (self.sigma_c * z).expand(shape).contiguous()


class Gaussian(XiFamily):
    """q(ξ) = N(μ_ξ, Σ_ξ) on flat (B, n) samples; Σ_ξ must be symmetric positive semi-definite."""
    name = "gaussian"

    def __init__(self, *, mean, cov):
        m = torch.as_tensor(mean, dtype=torch.float64)
        S = torch.as_tensor(cov, dtype=torch.float64)
        if m.ndim != 1 or S.shape != (m.shape[0], m.shape[0]):
            raise ValueError(f"mean must be (n,) and cov (n, n); got {tuple(m.shape)} and {tuple(S.shape)}")
        if not (torch.isfinite(m).all() and torch.isfinite(S).all()):
            raise ValueError("mean and cov must be finite")
        if not torch.allclose(S, S.T, atol=1e-12):
            raise ValueError("cov must be symmetric")
        evals, evecs = torch.linalg.eigh(S)
        if evals.min() < -1e-10 * max(1.0, float(evals.abs().max())):
            raise ValueError(f"cov must be positive semi-definite (smallest eigenvalue {evals.min().item():.3g})")
        self.m, self.S = m, S
        self.evals, self.evecs = evals.clamp(min=0), evecs      # Σ = V diag(λ) Vᵀ, computed once
        self.root = evecs * self.evals.sqrt()                    # Σ = root rootᵀ

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        n = self.m.shape[0]
        if len(shape) != 2 or shape[1] != n:
            raise ValueError(f"gaussian ξ has dimension {n}; asked for shape {tuple(shape)}")
        z = torch.randn((shape[0], n), generator=generator, device=device, dtype=dtype)
        return self.m.to(device=z.device, dtype=dtype) + z @ self.root.T.to(device=z.device, dtype=dtype)

    def cov(self, n):
        return self.S.clone()

    def mean(self, n):
        return self.m.clone()

    def posterior_mean(self, e, psi, sigma0, d=0.0):
        """In the eigenbasis of Σ_ξ, K_t and (I − d K_t)⁻¹ are diagonal: g = ψλ/(σ_0² + ψ²λ), 1/(1 − d g)."""
        n = self.m.shape[0]
        data_tensor(e, "e")
        if e.ndim != 2 or e.shape[1] != n:
            raise ValueError(f"gaussian ξ has dimension {n}; got e of shape {tuple(e.shape)}")
        V = self.evecs.to(device=e.device, dtype=e.dtype)
        lam = self.evals.to(device=e.device, dtype=e.dtype)
        mu = self.m.to(device=e.device, dtype=e.dtype)
        denom = sigma0**2 + psi * lam * (psi - d)                      # (σ_0² + ψ²λ)(1 − d g)
        if not bool((denom > 0).all()):
            raise ValueError("E[ξ | x_t] is not identifiable here: σ_0² + ψ λ (ψ − d) must be > 0")
        mu_e, r_e = mu @ V, (e - psi * mu) @ V                        # coordinates in the eigenbasis
        num = mu_e * (sigma0**2 + psi * psi * lam) + psi * lam * r_e
        return (num / denom) @ V.T


def make_xi(name: str, **kw) -> XiFamily:
    families = {"dirac": Dirac, "brightness": Brightness, "per_channel": PerChannel, "gaussian": Gaussian}
    if name not in families:
        raise ValueError(f"unknown q(ξ) family {name!r}; choose from {sorted(families)}")
    return families[name](**kw)
