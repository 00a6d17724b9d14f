"""Families q(ξ) of the additional ("offset") noise ξ [2412.03134 §3.1].

| name          | ξ for a sample of shape (B, *dims)                                       |
|---------------|--------------------------------------------------------------------------|
| `dirac`       | ξ = 0 (base model)                                                       |
| `brightness`  | ξ = σ_c z 1, z ~ N(0,1) per sample: q(ξ) = N(0, σ_c² 1 1ᵀ)               |
| `per_channel` | (B, C, H, W): one z per (sample, channel), broadcast over H, W           |
| `gaussian`    | (B, n): N(μ_ξ, Σ_ξ) with given mean and covariance                       |

Randomness enters only through `generator=`.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch


class XiFamily:
    name = "abstract"

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def cov(self, n: int) -> torch.Tensor:
        """Covariance of ξ for flat (B, n) samples (float64)."""
        raise NotImplementedError

    def mean(self, n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.float64)


class Dirac(XiFamily):
    name = "dirac"

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        return torch.zeros(shape, device=device, dtype=dtype)

    def cov(self, n):
        return torch.zeros(n, n, dtype=torch.float64)


def _check_scale(sigma_c):
    if not isinstance(sigma_c, (int, float)) or not (sigma_c >= 0) or sigma_c == float("inf"):
        raise ValueError(f"sigma_c must be a finite number >= 0, got {sigma_c!r}")
    return float(sigma_c)


class Brightness(XiFamily):
    """q(ξ) = N(0, σ_c² 1 1ᵀ): one brightness offset per sample."""
    name = "brightness"

    def __init__(self, *, sigma_c: float):
        self.sigma_c = _check_scale(sigma_c)

    def sample(self, shape, *, generator=None, device=None, dtype=torch.float32):
        z = torch.randn((shape[0],) + (1,) * (len(shape) - 1), generator=generator, device=device, dtype=dtype)
        return (self.sigma_c * z).expand(shape).contiguous()

    def cov(self, n):
        return torch.full((n, n), self.sigma_c**2, dtype=torch.float64)


class PerChannel(XiFamily):
    """Practitioners' offset noise shape: ξ[b, c, :, :] = σ_c z[b, c] for image tensors (B, C, H, W)."""
    name = "per_channel"

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
        self.root = evecs * evals.clamp(min=0).sqrt()          # Σ = root rootᵀ

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


def make_xi(name: str, **kw) -> XiFamily:
    families = {"dirac": Dirac, "brightness": Brightness, "per_channel": PerChannel, "gaussian": Gaussian}
    if name not in families:
        raise ValueError(f"unknown q(ξ) family {name!r}; choose from {sorted(families)}")
    return families[name](**kw)
