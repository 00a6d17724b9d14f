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
| whitened jump | z_s = J z_t, J = √ᾱ_s g_0 + √(C_s/C_t)(1 - √ᾱ_t g_0), C = σ_0²(1-ᾱ) + c² N_s  | whitened_gains     |
| whitened 2M   | z_s = a z_t + b z_p, ω = h/(2h') in ℓ = (log ᾱ - log C)/2 (0 at the first and last jump) | w2m_zt, w2m_zp, w2m_weight |

Each name predicts its sampler at that sampler's defaults, chosen by the sampler's own functions: `ddim-K` is
:func:`gendiff.samplers.ddim` (rule 'auto': the whitened jump wherever q(ξ) has a known structure, on its default
spacing), `stock-ddim-K` the same with stock_update (DDIM's jump with ξ̂ = 0), `dpm2m-K` is
:func:`gendiff.samplers.dpm_solver_2m` (rule 'whitened2m' on the grid `auto_grid` picks), `ancestral-T` the
ancestral chain; the frozen-mean DDIM jump (rule='ddim') is :func:`var_ratio_ddim`.  N_s = n σ_c² of the
sampler's q(ξ) (0 for dirac); A_t, B_t, C_t, σ_t² are the tables the ancestral sampler uses.  Starts: the prior N(ξ, σ_0² I) has S_0 = σ_0² + n σ_c² of the start family
[start_base, start_proposed]; the signal-leak start S_0 = ᾱ_T n v + c_T² N_start + σ_0²(1-ᾱ_T) [leak_var].
Near-extreme fraction for Gaussian L_avg with mean 0: P(|L_avg| > 0.8) = erfc(0.8/√(2·Var)).
Everything in float64 from the tables; z has mean 0 (data brightness centred).

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import inspect
import math
import re

import torch

from . import _reference as R
from .errors import InputError
from .methods import Method
from .samplers import _grid_for, _rule_for, ddim, dpm_solver_2m, timesteps
from .starts import SignalLeak
from .xi import Dirac

EXTREME = 0.8
SAMPLERS = "ancestral-<T>, ddim-<K>, stock-ddim-<K>, dpm2m-<K>"


def parse_sampler(name: str, T: int) -> tuple[str, int]:
    """('ancestral' | 'ddim' | 'stock-ddim' | 'dpm2m', steps); ancestral takes all T steps, the others 1..T."""
    m = re.fullmatch(r"(ancestral|ddim|stock-ddim|dpm2m)-([1-9][0-9]*)", name) if isinstance(name, str) else None
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


def _default(fn, arg):
    return inspect.signature(fn).parameters[arg].default


def sampler_setup(method: Method, kind: str, steps: int) -> tuple[list[int], str]:
    """(grid, rule) that gendiff.samplers.ddim / dpm_solver_2m use at their defaults for this method's tables and
    q(ξ) (the samplers' own grid and rule choosers); ancestral: (T, ..., 1; 'ancestral')."""
    tb = method.tables
    if kind == "ancestral":
        return list(range(tb.T, 0, -1)), "ancestral"
    fn, multistep = (dpm_solver_2m, True) if kind == "dpm2m" else (ddim, False)
    grid = _grid_for(tb, steps, _default(fn, "spacing"), None, None)
    rule = _rule_for(_default(fn, "rule"), tb, method.xi_start, kind == "stock-ddim", multistep,
                     kind != "dpm2m" and float(_default(fn, "eta")) > 0)
    return grid, rule


def var_ratio_whitened(law: dict, grid: list[int], start_var: float, Ns: float, sigma0: float, *,
                       multistep: bool = False) -> float:
    """Var_gen(L_avg)/Var_data(L_avg) after the whitened jumps (multistep: DPM-Solver++(2M) on the whitened flow)
    grid[0] → ... → 0; z_s = J z_t [whitened_gains], or z_s = a z_t + b z_p [w2m_zt, w2m_zp, w2m_weight]."""
    t = torch.tensor(grid, dtype=torch.long)
    s = torch.tensor(grid[1:] + [0], dtype=torch.long)
    ab, c, g0 = law["alpha_bar"], law["c"], law["g0"]
    N_s, s0 = _tab(Ns), _tab(sigma0)
    J = R.start_mismatch_whitened_factor(ab[t], ab[s], c[t], c[s], N_s, s0, g0[t])
    if not multistep or len(grid) < 3:
        return float(start_var * torch.prod(J * J) / law["lam"])
    p = t[:-1]                                                              # the previous step of jumps 1..K-1
    k = R.start_mismatch_whitened_factor(ab[t[1:]], ab[s[1:]], c[t[1:]], c[s[1:]], N_s, s0, torch.zeros(()))
    om = R.start_mismatch_w2m_weight(ab[t[1:]], ab[s[1:]], ab[p], c[t[1:]], c[s[1:]], c[p], N_s, s0)
    om = torch.where((ab[p] > 0) & (s[1:] > 0), om, torch.zeros_like(om))   # first order after ᾱ = 0 and at s = 0
    a, b = R.start_mismatch_w2m_coefs(ab[t[1:]], ab[s[1:]], k, om, g0[t[1:]], g0[p])
    f_prev, f = 1.0, float(J[0])                                            # z = f z_T at p and at t
    for i in range(len(grid) - 1):                                          # loops over time steps only
        f_prev, f = f, float(a[i]) * f + float(b[i]) * f_prev
    return float(start_var * f * f / law["lam"])


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
    grid, rule = sampler_setup(method, kind, steps)
    if rule == "ancestral":
        ratio = var_ratio_ancestral(law, method, S0, xi_hat=xi_hat)
    elif rule == "ddim":
        ratio = var_ratio_ddim(law, grid, S0, xi_hat=xi_hat)
    elif rule in ("whitened", "whitened2m"):
        ratio = var_ratio_whitened(law, grid, S0, n * _sigma_c(method.xi_start) ** 2, tb.sigma0,
                                   multistep=rule == "whitened2m")
    else:
        raise InputError(f"sampler {sampler!r} runs rule {rule!r} for {method.name}, which the predictor does not "
                         f"know: use a q(ξ) with known structure (dirac, brightness, per_channel)")
    spacing = "trailing" if grid == timesteps(tb.T, steps) else "logsnr"
    fwd = float(law["wsq"][-1])
    rho = fwd / S0
    return {
        "method": method.name, "sampler": sampler, "rule": rule, "spacing": spacing if kind != "ancestral" else "all",
        "n": n, "T": tb.T, "data_var": float(data_var),
        "alpha_bar_T": float(tb.alpha_bar[-1]), "r": n * float(tb.alpha_bar[-1]) * data_var / tb.sigma0**2,
        "start_var": S0, "forward_var": fwd, "start_ratio": rho,
        "start_kl": float(R.start_mismatch_kl(_tab(rho), _tab(0.0))),
        "var_ratio": ratio, "frac_extreme": frac_extreme(ratio * data_var), "frac_extreme_data": frac_extreme(data_var),
    }
