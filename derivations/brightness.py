"""Variance of the average brightness L_avg(x) = 1ᵀx / n at x_T [2412.03134 §7.6.2].

Reverse start x_T ~ N(ξ, σ_0² I): base (ξ ≡ 0) Var = σ_0²/n → 0; proposed with
q(ξ) = N(0, σ_c² 1 1ᵀ): Var = σ_0²/n + σ_c² → σ_c² as n → ∞.  Forward marginal
q(x_T | x_0, ξ) with x_0 independent of ξ: Var = ᾱ_T V_0 + σ_0²(1-ᾱ_T)/n + c_T² σ_c², V_0 = Var[L_avg(x_0)].
"""
from __future__ import annotations

import time

import sympy as sp

from .core import Perturb, Step, apply_perturb, require_horizon, run_steps
from .symbols import abar_T, n, sigma0, sigma_c

V0 = sp.Symbol("V_0", nonnegative=True)
c_T = sp.Symbol("c_T", real=True)


def statements() -> dict[str, sp.Expr]:
    return {
        "var_base": sigma0**2 / n,
        "var_proposed": sigma0**2 / n + sigma_c**2,
        "var_forward": abar_T * V0 + sigma0**2 * (1 - abar_T) / n + c_T**2 * sigma_c**2,
    }


def var_brightness(cov: sp.MatrixBase) -> sp.Expr:
    """Var[1ᵀx/n] = 1ᵀ Σ 1 / n² for an explicit n×n covariance Σ."""
    k = cov.shape[0]
    one = sp.ones(k, 1)
    return sp.simplify((one.T * cov * one)[0, 0] / k**2)


def derive(n_max: int = 6, perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    require_horizon(n_max)
    st = apply_perturb(statements(), perturb)
    steps = []
    # General n: 1ᵀ I 1 = n and 1ᵀ (1 1ᵀ) 1 = n².
    one = sp.OneMatrix(n, 1)
    quad = lambda M: sp.expand((one.T * M * one).doit()).as_explicit()[0, 0] / n**2  # noqa: E731
    cov_base = sigma0**2 * sp.Identity(n)
    cov_prop = sigma0**2 * sp.Identity(n) + sigma_c**2 * sp.OneMatrix(n, n)
    steps += [Step("base: Var[L_avg(x_T)] (general n)", quad(cov_base), st["var_base"]),
              Step("proposed: Var[L_avg(x_T)] (general n)", quad(cov_prop), st["var_proposed"])]
    # The forward marginal: x_T = √ᾱ_T x_0 + c_T ξ + σ0√(1-ᾱ_T) ε, independent terms.
    cov_fwd = sigma0**2 * (1 - abar_T) * sp.Identity(n) + c_T**2 * sigma_c**2 * sp.OneMatrix(n, n)
    steps.append(Step("forward marginal: Var[L_avg(x_T)] (general n)", abar_T * V0 + quad(cov_fwd),
                      st["var_forward"]))
    for k in range(1, n_max + 1):
        cb = sigma0**2 * sp.eye(k)
        cp = cb + sigma_c**2 * sp.ones(k, k)
        steps += [Step(f"explicit n={k}: base", var_brightness(cb), st["var_base"].subs(n, k)),
                  Step(f"explicit n={k}: proposed", var_brightness(cp), st["var_proposed"].subs(n, k))]
    steps += [Step("n → ∞: base variance → 0", sp.limit(st["var_base"], n, sp.oo), 0),
              Step("n → ∞: proposed variance → σ_c²", sp.limit(st["var_proposed"], n, sp.oo), sigma_c**2)]
    return run_steps(
        "brightness", "Variance of the average brightness at x_T",
        ["reverse start p(x_T|ξ) = N(ξ, σ_0² I); q(ξ) = N(0, σ_c² 1 1ᵀ) (proposed) or ξ ≡ 0 (base)",
         "forward marginal from result 'forward'; x_0 independent of ξ and ε"],
        st, steps,
        "In the base model the brightness of the starting noise concentrates at 0 like σ_0²/n, so "
        "in high dimension the sampler cannot start far from mean brightness 0. With brightness "
        "offset noise the variance stays at least σ_c² for every n.",
        t0)
