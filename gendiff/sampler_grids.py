"""Grids of steps for few-step samplers, and the few-step default rule.

Every grid starts at t = T, where x_T ~ N(ξ, σ_0² I) holds [CONVENTIONS "Samplers"].

| grid                 | steps (1-based, descending)                                                  |
|----------------------|------------------------------------------------------------------------------|
| `timesteps`          | diffusers' `timestep_spacing` ('trailing', 'leading', 'linspace'), T prepended |
| `resolve_last_step`  | a grid with T-1 inserted after T (the last forward step resolved)            |
| `logsnr_grid`        | steps uniform in λ_t = log(√ᾱ_t/(σ_0√(1-ᾱ_t))) between λ_T and λ_1 (rounded) |

:func:`first_step_loss` is the fraction of the variance along the ξ direction that the frozen-mean DDIM jump
T → T-1 loses on the noise part alone [jump_variance.cos2 with the data term 0]; :func:`auto_rule` and
:func:`auto_grid` are the few-step defaults.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .tables import Tables
from .xi import Dirac, Gaussian, XiFamily, _RankOne

SPACINGS = ("trailing", "leading", "linspace")
AUTO_GAP = 2.0


def timesteps(T: int, steps: int, spacing: str = "trailing", *, steps_offset: int = 0) -> list[int]:
    """Descending 1-based steps at which a few-step sampler calls the model (diffusers' `timestep_spacing`).

    diffusers' 0-based timestep k is t = k + 1 here: 'trailing' k = round(T - i·T/steps) - 1, 'leading'
    k = i·⌊T/steps⌋ + steps_offset, 'linspace' k = round(linspace(0, T-1, steps)), i = 0..steps-1.
    'trailing' and 'linspace' start at t = T.  'leading' starts below T (at t = 981 for SD's T = 1000,
    50 steps, steps_offset 1), where the sample is not drawn from q(x_t): there T is PREPENDED, so the
    grid has steps + 1 entries (one more network call) and starts where x_T ~ N(ξ, σ_0² I) holds.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..T = {T}, got {steps!r}")
    if isinstance(steps_offset, bool) or not isinstance(steps_offset, int) or steps_offset < 0:
        raise ValueError(f"steps_offset must be an integer >= 0, got {steps_offset!r}")
    if spacing == "trailing":        # the float arange can overshoot by one entry (≈ 0, i.e. k = -1): keep `steps`
        k = np.round(np.arange(T, 0, -T / steps)[:steps]).astype(np.int64) - 1
    elif spacing == "leading":
        k = (np.arange(steps) * (T // steps))[::-1] + steps_offset
        if k[0] > T - 1:
            raise ValueError(f"steps_offset = {steps_offset} moves a timestep past {T - 1}")
    elif spacing == "linspace":
        k = np.linspace(0, T - 1, steps).round().astype(np.int64)[::-1]
    else:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    grid = [int(v) + 1 for v in k]
    return grid if grid[0] == T else [T] + grid


def check_grid(grid, T: int, t_start: int) -> list[int]:
    """The grid as a list of ints: strictly descending, in 1..T, starting at t_start; else ValueError."""
    try:
        g = [int(v) for v in grid]
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a sequence of integer steps, got {grid!r}") from None
    if not g or any(b >= a for a, b in zip(g, g[1:])) or g[-1] < 1 or g[0] > T:
        raise ValueError(f"grid must be strictly descending integer steps in 1..T = {T}, got {g}")
    if g[0] != t_start:
        raise ValueError(f"grid starts at t = {g[0]}, but the sample is drawn for t = {t_start}: every grid starts "
                         f"at T (or at t_start with its x_T)")
    return g


def resolve_last_step(grid: list[int]) -> list[int]:
    """The grid with T-1 inserted after T (when absent): one more call resolves the last forward step."""
    g = list(grid)
    if len(g) == 1 or g[1] != g[0] - 1:
        g.insert(1, g[0] - 1)
    return [v for v in g if v >= 1]


def log_snr(tables: Tables) -> torch.Tensor:
    """λ_t = log(√ᾱ_t / (σ_0 √(1-ᾱ_t))) for t = 1..T (float64; −∞ where ᾱ_T = 0)."""
    return 0.5 * (torch.log(tables.alpha_bar) - torch.log(tables.one_minus_alpha_bar)) - math.log(tables.sigma0)


def logsnr_grid(tables: Tables, steps: int) -> list[int]:
    """About `steps` steps uniform in λ between λ_T (λ_{T-1} where λ_T = −∞) and λ_1, each rounded to the
    nearest step in λ, duplicates dropped, T first (fewer entries where steps crowd within one forward step)."""
    T = tables.T
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in 1..T = {T}, got {steps!r}")
    lam = log_snr(tables)
    hi = float(lam[0])
    lo = float(lam[-1]) if math.isfinite(float(lam[-1])) else float(lam[-2])
    targets = np.linspace(lo, hi, steps)
    lam_np = lam.numpy()
    lam_np = np.where(np.isfinite(lam_np), lam_np, lo - 1e9)
    picks = {int(np.argmin(np.abs(lam_np - v))) + 1 for v in targets}
    picks.add(T)
    return sorted(picks, reverse=True)


def xi_direction_variance(xi_family: XiFamily, shape) -> float:
    """The largest eigenvalue of Cov(ξ) for samples of `shape`: m σ_c² for a rank-one group of m, 0 for dirac."""
    if isinstance(xi_family, Dirac):
        return 0.0
    if isinstance(xi_family, _RankOne):
        dims = xi_family._groups(torch.empty((1,) + tuple(shape[1:]), device="meta"))
        m = 1
        for d in dims:
            m *= shape[d]
        return m * xi_family.sigma_c ** 2
    if isinstance(xi_family, Gaussian):
        return float(xi_family.evals.max())
    return float("nan")


def first_step_loss(tables: Tables, lam_xi: float) -> float:
    """1 − cos² of the angle between (c_T √N, σ_0 √(1-ᾱ_T)) and (c_{T-1} √N, σ_0 √(1-ᾱ_{T-1})), N = lam_xi:
    the variance fraction the frozen-mean jump T → T-1 loses along the ξ direction, data term left out
    [jump_variance.cos2].  For balanced γ and ᾱ_{T-1} → 0 it is ρ(1-√α_T)²/((1+ρ)(1+ρ α_T)), ρ = N/σ_0²
    [jump_variance.first_step_sin2_limit]: cosine (β_T = 0.999) at ρ = 256 loses 74 %."""
    if tables.T < 2 or not lam_xi > 0:
        return 0.0
    s02 = tables.sigma0 ** 2
    c, om = tables.c, tables.one_minus_alpha_bar
    wt = torch.stack([c[-1] * math.sqrt(lam_xi), (s02 * om[-1]).sqrt()])
    ws = torch.stack([c[-2] * math.sqrt(lam_xi), (s02 * om[-2]).sqrt()])
    return float(1 - (wt @ ws) ** 2 / ((wt @ wt) * (ws @ ws)))


def has_structure(xi_family: XiFamily) -> bool:
    """Whether the whitened jumps know Cov(ξ)'s eigen-structure for this family."""
    return isinstance(xi_family, (Dirac, _RankOne, Gaussian))


def auto_rule(tables: Tables, xi_family: XiFamily, *, multistep: bool = False) -> str:
    """The few-step default jump rule: the whitened one ('whitened', or 'whitened2m' for the multistep solver)
    wherever q(ξ) has a known structure (it is DDIM's jump / diffusers' DPM-Solver++ where ξ ≡ 0 or c ≡ 0);
    DDIM's ('ddim' / 'dpm2m') where c ≡ 0.  Refuses a family without structure on tables with c ≢ 0, where
    the frozen-mean jump loses the fraction :func:`first_step_loss` of the ξ-direction variance at T."""
    if has_structure(xi_family):
        return "whitened2m" if multistep else "whitened"
    if not bool((tables.c != 0).any()):
        return "dpm2m" if multistep else "ddim"
    raise ValueError(f"rule='auto' needs the covariance structure of q(ξ) (dirac, brightness, per_channel, gaussian), "
                     f"got {type(xi_family).__name__}: pass rule='ddim' explicitly (the frozen-mean jump, which loses "
                     f"a fraction first_step_loss of the ξ-direction variance at T)")


def auto_grid(tables: Tables, steps: int) -> list[int]:
    """The few-step default grid: :func:`logsnr_grid` where the first trailing jump spans more than AUTO_GAP nats of
    λ (from T, or from T-1 where ᾱ_T = 0: ᾱ collapses near T, e.g. cosine or zero terminal SNR), else 'trailing'."""
    g = timesteps(tables.T, steps, "trailing")
    if len(g) < 2:
        return g
    lam = log_snr(tables)
    lo = float(lam[-1]) if math.isfinite(float(lam[-1])) else float(lam[-2])
    return logsnr_grid(tables, steps) if float(lam[g[1] - 1]) - lo > AUTO_GAP else g
