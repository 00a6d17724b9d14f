"""Datasets of CONVENTIONS.md: `cylinder` and `gaussian`, with fixed-seed train/validation/test splits.

cylinder: x_0 = u 1_n + r w, u ~ U[-b, b], w uniform on the unit sphere of the subspace orthogonal to
1_n, r = ρ √n; so L_avg(x_0) = u is uniform for every n.  For n = 1, x_0 = u.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import math

import torch

SPLIT_SEEDS = {"train": 11, "val": 12, "test": 13}


def cylinder(n: int, size: int, *, b: float = 1.0, rho: float = 0.5, generator=None) -> torch.Tensor:
    if n < 1 or size < 1:
        raise ValueError(f"n and size must be >= 1, got n={n}, size={size}")
    if not (b > 0 and rho >= 0):
        raise ValueError(f"need b > 0 and rho >= 0, got b={b}, rho={rho}")
    u = (torch.rand(size, 1, generator=generator, dtype=torch.float64) * 2 - 1) * b
    if n == 1:
        return u
    z = torch.randn(size, n, generator=generator, dtype=torch.float64)
    z = z - z.mean(1, keepdim=True)                           # project onto 1_n^⊥
    w = z / z.norm(dim=1, keepdim=True)
    return u + rho * math.sqrt(n) * w


def gaussian_params(n: int, *, seed: int = 5):
    """A fixed mean and covariance with a strong brightness component (extreme L_avg values)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64) / math.sqrt(n)
    mu = torch.full((n,), 0.5, dtype=torch.float64)
    return mu, 0.25 * A @ A.T + 0.05 * torch.eye(n, dtype=torch.float64) + 0.5 * torch.ones(n, n, dtype=torch.float64)


def gaussian(n: int, size: int, *, generator=None) -> torch.Tensor:
    mu, S = gaussian_params(n)
    L = torch.linalg.cholesky(S)
    return mu + torch.randn(size, n, generator=generator, dtype=torch.float64) @ L.T


def make_split(name: str, n: int, split: str, size: int) -> torch.Tensor:
    """Deterministic split (float64): each (dataset, n, split) has its own fixed seed."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEEDS)}")
    g = torch.Generator().manual_seed(SPLIT_SEEDS[split] * 100_003 + n)
    if name == "cylinder":
        return cylinder(n, size, generator=g)
    if name == "gaussian":
        return gaussian(n, size, generator=g)
    raise ValueError(f"unknown dataset {name!r}; choose cylinder or gaussian")
