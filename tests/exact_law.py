"""The exact output law of a sampler along one direction for Gaussian data (no sampling error).

Along an eigen-direction shared by Σ and Σ_ξ (the brightness direction z = 1ᵀx/√n of the brightness family)
the model is one-dimensional: z_0 ~ N(0, λ), ξ_z ~ N(0, N), z_t = √ᾱ_t z_0 + c_t ξ_z + σ_0 √(1-ᾱ_t) ε.  With
the exact (linear) conditional means of :class:`GaussianOracle`, every sampler of `gendiff.samplers` is linear
in x_T and in the standard normals it injects: z_out = g_0 x_T + Σ_j g_j ζ_j.  One batch recovers every g:
row 0 starts at x_T = 1 with no noise, row j + 1 starts at 0 and gets ζ = 1 at jump j only (the `noise=`
hook).  Var(z_out) = g_0² Var(x_T) + Σ_j g_j², with Var(x_T) = N + σ_0² for the prior start.
"""
from __future__ import annotations

import math

import torch

from gendiff.experiments.oracle import GaussianOracle
from gendiff.xi import Brightness


def output_variance(sampler, tables, lam: float, N: float, *, pred: str = "eps", start_var=None, **kw) -> float:
    """Exact Var(z_out) of `sampler` (ancestral, ddim, dpm_solver_2m or sample) for data variance lam and ξ
    variance N along the direction; kw go to the sampler (steps, grid, rule, ...)."""
    oracle = GaussianOracle([0.0], [[lam]], [[N]], tables, pred=pred)
    fam = Brightness(sigma_c=math.sqrt(N))
    B = tables.T + 2
    x_T = torch.zeros(B, 1, dtype=torch.float64)
    x_T[0] = 1.0

    def noise(i, like):
        z = torch.zeros_like(like)
        z[i + 1] = 1.0
        return z
    out = sampler(oracle, (B, 1), tables, fam, pred=pred, dtype=torch.float64, x_T=x_T, noise=noise, **kw)[:, 0]
    v0 = tables.sigma0 ** 2 + N if start_var is None else start_var
    return float(out[0] ** 2 * v0 + (out[1:] ** 2).sum())


def w1_brightness_gaussian(var_out: float, lam: float, n: int) -> float:
    """W1 between the L_avg laws N(0, var_out/n) and N(0, lam/n): √(2/π)|sd_out − sd|/√n."""
    return math.sqrt(2 / math.pi) * abs(math.sqrt(var_out) - math.sqrt(lam)) / math.sqrt(n)
