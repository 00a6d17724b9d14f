"""Offset-noise equivalence [2412.03134 §3.2.5]: which (input a_t, target b_t) pairs are ELBO losses.

A trainer builds x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + a_t ξ) and regresses on σ_0 ε + b_t ξ.  This is the
ELBO loss (up to λ_t) of the member with schedule γ iff ψ_t(γ) = a_t and ϕ_t(γ) = b_t for all t.
Inverting ϕ gives γ_t = b_t β_t / (√α_t √(1-ᾱ_t)); the forward recursion then demands, for every t,

    r_t = a_t (1-ᾱ_t) - √(α_t (1-ᾱ_t)(1-ᾱ_{t-1})) a_{t-1} - β_t b_t = 0      (a_0 term absent at t=1)

i.e. b_t = [a_t (1-ᾱ_t) - √(α_t(1-ᾱ_t)(1-ᾱ_{t-1})) a_{t-1}] / β_t, and b_1 = a_1.  Normalisation
c_T = a_T √(1-ᾱ_T) = 1 additionally makes the forward process end at N(ξ, σ_0²).
Constant w (a_t = b_t = w): r_t = -w √(α_t(1-ᾱ_{t-1})) [√(1-ᾱ_t) - √(α_t(1-ᾱ_{t-1}))] ≠ 0 for t ≥ 2.
"""
from __future__ import annotations

import time

import sympy as sp

from . import elbo, forward
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import ABAR, BETA, abar_prev, alpha, c_prev, gamma

a_t, a_prev, b_t = sp.symbols("a_t a_{t-1} b_t", real=True)
w = sp.Symbol("w", positive=True)


def statements() -> dict[str, sp.Expr]:
    root = sp.sqrt(alpha * (1 - ABAR) * (1 - abar_prev))
    return {
        "gamma_implied": b_t * BETA / (sp.sqrt(alpha) * sp.sqrt(1 - ABAR)),
        "residual": a_t * (1 - ABAR) - root * a_prev - BETA * b_t,
        "target_implied": (a_t * (1 - ABAR) - root * a_prev) / BETA,
        "residual_const_w": -w * sp.sqrt(alpha * (1 - abar_prev))
                            * (sp.sqrt(1 - ABAR) - sp.sqrt(alpha * (1 - abar_prev))),
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    fw, ph = forward.statements(), elbo.statements()["phi"]
    steps = []
    g = sp.solve(sp.Eq(ph, b_t), gamma)
    steps.append(Step("ϕ_t(γ) = b_t ⇔ γ_t = b_t β_t/(√α_t √(1-ᾱ_t))", g[0] if len(g) == 1 else sp.nan,
                      st["gamma_implied"]))
    # Induction: if c_{t-1} = a_{t-1}√(1-ᾱ_{t-1}) then c_t - a_t√(1-ᾱ_t) = -r_t/√(1-ᾱ_t).
    c_t = fw["c"].subs({c_prev: a_prev * sp.sqrt(1 - abar_prev), gamma: st["gamma_implied"]})
    steps.append(Step("ψ_t(γ) - a_t = -r_t/(1-ᾱ_t) under ψ_{t-1} = a_{t-1}",
                      c_t / sp.sqrt(1 - ABAR) - a_t, -st["residual"] / (1 - ABAR)))
    steps.append(Step("r_t = 0 ⇔ b_t = implied target", sp.solve(st["residual"], b_t)[0], st["target_implied"]))
    steps.append(Step("t=1: r_1 = β_1 (a_1 - b_1)", st["residual"].subs(abar_prev, 1), BETA * (a_t - b_t)))
    steps.append(Step("constant w: r_t factorises",
                      st["residual"].subs({a_t: w, a_prev: w, b_t: w}), st["residual_const_w"]))
    steps.append(Step("(1-ᾱ_t) - α_t(1-ᾱ_{t-1}) = β_t > 0, so r_t < 0 for t ≥ 2, w > 0",
                      (1 - ABAR) - alpha * (1 - abar_prev), BETA))
    return run_steps(
        "offset", "Offset-noise equivalence condition",
        ["a trainer's input coefficient a_t and target coefficient b_t of ξ, σ_0 ε shared",
         "results 'forward' (ψ_t, c_t) and 'elbo' (ϕ_t)", "0 < α_t < 1, so β_t > 0"],
        st, steps,
        "A pair (a_t, b_t) is an ELBO loss iff b_1 = a_1 and r_t = 0 for t ≥ 2; the residual is cheap to "
        "evaluate for any sequences. Conventional offset noise (a_t = b_t = w constant, w ≠ 0) is never "
        "consistent for T ≥ 2: for input w the ELBO target is w[(1-ᾱ_t) - √(α_t(1-ᾱ_t)(1-ᾱ_{t-1}))]/β_t.",
        t0, notes=["constant w: inconsistent for every T ≥ 2 and w ≠ 0 (consistent only for T = 1)"])
