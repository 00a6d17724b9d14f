"""Predicted brightness statistics of a sampler for Gaussian data [result 'start_mismatch'].

Brightness coordinate z = 1ᵀx/√n (per channel, n = H·W); λ = n V with V = Var(L_avg(x_0)), N = n σ_c² of the
method's training family (0 for base), w_t = (√ᾱ_t √λ, c_t √N, σ_0 √(1-ᾱ_t)), so Var z_t = |w_t|² under the
forward process.  For Gaussian data whose covariance has 1 as an eigenvector (z decouples), with the exact
conditional means a trained network approximates (gains g_0 = √ᾱ_t λ/|w_t|², g_ξ = c_t N/|w_t|²; g_ξ = 0 where
the sampler's ξ̂ is 0: base, offset noise, stock DDIM):

| sampler       | law of z from a start of variance S_0                                        | statement          |
|---------------|------------------------------------------------------------------------------|--------------------|
| `ddim-K`      | z_s = J z_t per jump, J = √ᾱ_s g_0 + c_s g_ξ + k(1 - √ᾱ_t g_0 - c_t g_ξ);      | jump_gains,        |
| `stock-ddim-K`| Var_gen/Var_data = S_0 ∏ J²/λ = (S_0/|w_T|²) ∏ cos²∠(w_t, w_s) (exact gains)  | jump_factor, kept  |
| `ancestral-T` | V_{t-1} = J_t² V_t + σ_t² (none at t = 1), J_t = B_t + A_t g_0 + C_t g_ξ       | step_var, anc_factor |

The DDIM grid is :func:`gendiff.samplers.timesteps` (then s = 0); A_t, B_t, C_t, σ_t² are the tables the
ancestral sampler uses.  Starts: the prior N(ξ, σ_0² I) has S_0 = σ_0² + n σ_c² of the start family
[start_base, start_proposed]; the signal-leak start S_0 = ᾱ_T n v + c_T² N_start + σ_0²(1-ᾱ_T) [leak_var].
Near-extreme fraction for Gaussian L_avg with mean 0: P(|L_avg| > 0.8) = erfc(0.8/√(2·Var)).
Everything in float64 from the tables; z has mean 0 (data brightness centred).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import math
import re

import torch

from . import _reference as R
from .errors import InputError
from .methods import Method
from .samplers import timesteps
from .starts import SignalLeak
from .xi import Dirac

EXTREME = 0.8
SAMPLERS = "ancestral-<T>, ddim-<K>, stock-ddim-<K>"


def parse_sampler(name: str, T: int) -> tuple[str, int]:
    """('ancestral' | 'ddim' | 'stock-ddim', steps); ancestral takes all T steps, DDIM 1..T."""
    m = re.fullmatch(r"(ancestral|ddim|stock-ddim)-([1-9][0-9]*)", name) if isinstance(name, str) else None
    if m is None:
        raise InputError(f"unknown sampler {name!r}: use {SAMPLERS}")
    kind, steps = m.group(1), int(m.group(2))
    if kind == "ancestral" and steps != T:
        raise InputError(f"sampler {name!r} does not fit T = {T}: ancestral takes all T steps (ancestral-{T})")
    if not 1 <= steps <= T:
        raise InputError(f"sampler {name!r}: steps must lie in 1..T = {T}")
    return kind, steps


def _sigma_c(fam) -> float:
    return 0.0 if isinstance(fam, Dirac) else float(getattr(fam, "sigma_c", 0.0))


def _tab(x: float) -> torch.Tensor:
    return torch.tensor(float(x), dtype=torch.float64)


def brightness_law(method: Method, n: int, data_var: float) -> dict:
    """λ, N and the per-step tables (index s = step s, s = 0..T) of ᾱ, c, |w|², g_0 and the exact g_ξ."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be an integer >= 1 (components per channel), got {n!r}")
    if isinstance(data_var, bool) or not isinstance(data_var, (int, float)) or not 0 < data_var < math.inf:
        raise InputError(f"data_var = Var(L_avg(x_0)) must be a finite number > 0, got {data_var!r}")
    tb = method.tables
    lam, N = n * float(data_var), n * _sigma_c(method.xi_train) ** 2
    ab = torch.cat([_tab(1.0).reshape(1), tb.alpha_bar])
    c = torch.cat([_tab(0.0).reshape(1), tb.c])
    s0 = _tab(tb.sigma0)
    wsq = R.start_mismatch_wsq(ab, c, _tab(lam), _tab(N), s0)
    g0, gxi = R.start_mismatch_gains(ab, c, _tab(lam), _tab(N), s0)
    return {"lam": lam, "N": N, "alpha_bar": ab, "c": c, "wsq": wsq, "g0": g0, "gxi": gxi}


def start_variance(method: Method, n: int, data_var: float) -> float:
    """Var z_T of the method's start: prior σ_0² + n σ_c(start)², or the signal-leak law [result 'start_mismatch']."""
    tb = method.tables
    n_start = n * _sigma_c(method.xi_start) ** 2
    if isinstance(method.start, str):
        if method.start != "prior":
            raise InputError(f"start must be 'prior' or an object with draw(), got {method.start!r}")
        return tb.sigma0**2 + n_start
    if isinstance(method.start, SignalLeak):
        v = method.start.var
        if not bool((v == v[0]).all()):
            raise InputError(f"the signal-leak start has different variances per channel {v.tolist()}: predict each "
                             "channel with its own SignalLeak(mean=[m_c], var=[v_c])")
        ab, om, cT = tb.alpha_bar[-1].item(), tb.one_minus_alpha_bar[-1].item(), tb.c[-1].item()
        return ab * n * float(v[0]) + cT**2 * n_start + tb.sigma0**2 * om          # leak_var
    raise InputError(f"cannot predict the start {method.start!r}: only 'prior' and SignalLeak are known")


def var_ratio_ddim(law: dict, grid: list[int], start_var: float, *, xi_hat: bool = True) -> float:
    """Var_gen(L_avg)/Var_data(L_avg) after the deterministic jumps grid[0] → grid[1] → ... → 0."""
    t = torch.tensor(grid, dtype=torch.long)
    s = torch.tensor(grid[1:] + [0], dtype=torch.long)
    ab, c = law["alpha_bar"], law["c"]
    gxi = law["gxi"][t] if xi_hat else torch.zeros(len(grid), dtype=torch.float64)
    J = R.start_mismatch_ddim_factor(ab[t], ab[s], c[t], c[s], law["g0"][t], gxi)
    return float(start_var * torch.prod(J * J) / law["lam"])


def var_ratio_ancestral(law: dict, method: Method, start_var: float, *, xi_hat: bool = True) -> float:
    """Var_gen(L_avg)/Var_data(L_avg) of the ancestral chain: V_0 = (∏ J_t²) S_0 + Σ_{t≥2} σ_t² ∏_{u<t} J_u²."""
    tb = method.tables
    g0, gxi = law["g0"][1:], law["gxi"][1:] * (1.0 if xi_hat else 0.0)
    J = tb.post_coef_xt + tb.post_coef_x0 * g0 + tb.post_coef_xi * gxi          # anc_factor (index t-1)
    P = torch.cumprod(J * J, 0)                                                  # P[t-1] = ∏_{u≤t} J_u²
    v0 = P[-1] * start_var + (tb.sigma2[1:] * P[:-1]).sum()
    return float(v0 / law["lam"])


def frac_extreme(var: float, level: float = EXTREME) -> float:
    """P(|L| > level) for L ~ N(0, var)."""
    return math.erfc(level / math.sqrt(2 * var)) if var > 0 else 0.0


def predict(method: Method, sampler: str, *, n: int, data_var: float = 1 / 3) -> dict:
    """The brightness-check prediction for `method` sampled with `sampler` (see the module docstring)."""
    law = brightness_law(method, n, data_var)
    tb = method.tables
    kind, steps = parse_sampler(sampler, tb.T)
    S0 = start_variance(method, n, data_var)
    xi_hat = kind != "stock-ddim" and not isinstance(method.xi_start, Dirac)
    if kind == "ancestral":
        ratio = var_ratio_ancestral(law, method, S0, xi_hat=xi_hat)
    else:
        ratio = var_ratio_ddim(law, timesteps(tb.T, steps), S0, xi_hat=xi_hat)
    fwd = float(law["wsq"][-1])
    rho = fwd / S0
    return {
        "method": method.name, "sampler": sampler, "n": n, "T": tb.T, "data_var": float(data_var),
        "alpha_bar_T": float(tb.alpha_bar[-1]), "r": n * float(tb.alpha_bar[-1]) * data_var / tb.sigma0**2,
        "start_var": S0, "forward_var": fwd, "start_ratio": rho,
        "start_kl": float(R.start_mismatch_kl(_tab(rho), _tab(0.0))),
        "var_ratio": ratio, "frac_extreme": frac_extreme(ratio * data_var), "frac_extreme_data": frac_extreme(data_var),
    }
