"""Balanced-ϕ_t,ψ_t strategy (Algorithm 1 of [2412.03134]) and its closed form.

ψ_t = ϕ_t for every t holds iff γ_t = β_t c_{t-1} / (α_t (1-ᾱ_{t-1})) for t ≥ 2 (γ_1 is free).
Closed form (proved by induction): γ_t = K β_t / (α_t √ᾱ_{t-1}), c_t = K (1-ᾱ_t)/√ᾱ_t,
ψ_t = ϕ_t = K √((1-ᾱ_t)/ᾱ_t) = K / √SNR_t, and the normalisation c_T = 1 gives K = √ᾱ_T/(1-ᾱ_T).
"""
from __future__ import annotations

import time

import sympy as sp

from . import elbo, forward, posterior
from .core import Perturb, Step, apply_perturb, require_horizon, run_steps
from .symbols import ABAR, BETA, K, abar_T, abar_prev, alpha, c_prev, gamma, indexed

s = sp.Symbol("s", positive=True)   # ᾱ_T → 0 limit variable


def statements() -> dict[str, sp.Expr]:
    return {
        "gamma_recursion": BETA * c_prev / (alpha * (1 - abar_prev)),   # t ≥ 2
        "gamma": K * BETA / (alpha * sp.sqrt(abar_prev)),
        "c": K * (1 - ABAR) / sp.sqrt(ABAR),
        "psi": K * sp.sqrt(1 - ABAR) / sp.sqrt(ABAR),
        "K": sp.sqrt(abar_T) / (1 - abar_T),
    }


def algorithm1(T: int):
    """Algorithm 1 run symbolically: γ_1 = 1, recursion for t ≥ 2, then normalise so c_T = 1."""
    require_horizon(T)
    al = indexed("alpha", T, positive=True)
    rec = statements()["gamma_recursion"]
    gam, c, abar_p = [], sp.Integer(0), sp.Integer(1)
    for t in range(1, T + 1):
        g = sp.Integer(1) if t == 1 else rec.subs({alpha: al[t - 1], c_prev: c, abar_prev: abar_p})
        gam.append(g)
        c = sp.sqrt(al[t - 1]) * (c + g)
        abar_p = abar_p * al[t - 1]
    return al, [sp.simplify(g / c) for g in gam]


def derive(T_unroll: int = 6, perturb: Perturb | None = None):
    t0 = time.perf_counter()
    require_horizon(T_unroll)
    st = apply_perturb(statements(), perturb)
    fw, ph = forward.statements(), elbo.statements()["phi"]
    steps = []
    # Condition ψ_t = ϕ_t is linear in γ_t with a unique solution.
    sol = sp.solve(sp.Eq(fw["psi"], ph), gamma)
    steps.append(Step("ψ_t = ϕ_t ⇔ γ_t = β_t c_{t-1}/(α_t(1-ᾱ_{t-1})) (unique)",
                      sol[0] if len(sol) == 1 else sp.nan, st["gamma_recursion"]))
    steps.append(Step("t=1: ψ_1 = ϕ_1 for every γ_1 (ᾱ_0 = 1, c_0 = 0)",
                      (fw["psi"] - ph).subs({abar_prev: 1, c_prev: 0}), 0))
    # Closed form by induction.
    c_closed_prev = (K * (1 - abar_prev) / sp.sqrt(abar_prev))
    steps += [Step("closed form, base: c_1 = √α_1 γ_1", fw["c"].subs({c_prev: 0, abar_prev: 1, gamma: st["gamma"].subs(abar_prev, 1)}),
                   st["c"].subs(abar_prev, 1)),
              Step("closed form, step: c_t = √α_t(c_{t-1} + γ_t)",
                   fw["c"].subs({c_prev: c_closed_prev, gamma: st["gamma"]}), st["c"]),
              Step("closed form satisfies the balance condition (t ≥ 2)",
                   st["gamma"], st["gamma_recursion"].subs(c_prev, c_closed_prev)),
              Step("closed form: ψ_t = c_t/√(1-ᾱ_t)", st["c"] / sp.sqrt(1 - ABAR), st["psi"]),
              Step("closed form: ϕ_t = ψ_t", ph.subs(gamma, st["gamma"]), st["psi"]),
              Step("balanced ⇒ posterior mean has no ξ term (C_t = 0)",
                   posterior.statements()["coef_xi"].subs(gamma, st["gamma_recursion"]), 0)]
    # Normalisation c_T = 1.
    aT = sp.Symbol("abar_T_", positive=True)
    Ksol = sp.solve(sp.Eq(K * (1 - aT) / sp.sqrt(aT), 1), K)
    steps.append(Step("normalisation c_T = 1 ⇒ K = √ᾱ_T/(1-ᾱ_T)",
                      Ksol[0].subs(aT, abar_T) if len(Ksol) == 1 else sp.nan, st["K"]))
    # Algorithm 1 vs closed form, unrolled.
    al, gam = algorithm1(T_unroll)
    abar = [sp.Mul(*al[:k]) for k in range(T_unroll + 1)]
    for t in range(1, T_unroll + 1):
        closed = st["gamma"].subs({K: st["K"].subs(abar_T, abar[T_unroll]), alpha: al[t - 1],
                                   abar_prev: abar[t - 1]})
        steps.append(Step(f"Algorithm 1 (T={T_unroll}) = closed form at t={t}", gam[t - 1], closed))
    # Zero terminal SNR: ᾱ_T → 0 with ᾱ_{T-1} fixed (α_T = ᾱ_T/ᾱ_{T-1} → 0).
    Kz = st["K"].subs(abar_T, s)
    psi_T = st["psi"].subs({K: Kz, alpha: s / abar_prev})
    gamma_T = st["gamma"].subs({K: Kz, alpha: s / abar_prev})
    steps += [Step("ᾱ_T → 0: K → 0 (so ψ_t = ϕ_t → 0 and γ_t → 0 for t < T)", sp.limit(Kz, s, 0), 0),
              Step("ᾱ_T → 0: ψ_T = ϕ_T → 1", sp.limit(psi_T, s, 0), 1),
              Step("ᾱ_T → 0: γ_T → ∞", sp.limit(gamma_T, s, 0, "+"), sp.oo)]
    return run_steps(
        "balanced", "Balanced-ϕ_t,ψ_t strategy and its closed form",
        ["results 'forward' (ψ_t) and 'elbo' (ϕ_t)", "normalisation c_T = 1 (forward ends where the reverse starts)",
         f"closed form by induction; Algorithm 1 unrolled for T = {T_unroll}"],
        st, steps,
        "The balanced schedule has a closed form: ψ_t = ϕ_t = K/√SNR_t with K = √ᾱ_T/(1-ᾱ_T), so the "
        "offset weight grows like the inverse signal-to-noise ratio and reaches 1/√(1-ᾱ_T) at t = T. "
        "At zero terminal SNR it degenerates: ξ enters only the last step (γ_T = ∞) and the loss is DDPM's for t < T.",
        t0, notes=["closed form exists: γ_t = √ᾱ_T β_t / ((1-ᾱ_T) α_t √ᾱ_{t-1})",
                   "ᾱ_T = 0: no finite balanced γ; limit ψ_t = ϕ_t = 0 (t < T), ψ_T = ϕ_T = 1",
                   "balanced ⇒ C_t = 0: the posterior q(x_{t-1}|x_t,x_0,ξ) does not depend on ξ"])
