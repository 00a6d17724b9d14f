"""v-prediction for the generalized model.

With a = √ᾱ_t, s = √(1-ᾱ_t) (a² + s² = 1), input x_t = a x_0 + s(σ_0 ε + ψ_t ξ), ε-target
η = σ_0 ε + ϕ_t ξ, define v = a η - s x_0.  Conversions: η = a v + s x_t - s²(ψ_t-ϕ_t) ξ and
x_0 = a x_t - s v - a s (ψ_t-ϕ_t) ξ.  Hence v ↔ (η, x_0) needs no ξ iff ψ_t = ϕ_t, and then
‖v - v̂‖² = ‖η - η̂‖² / ᾱ_t: the v objective is the ε objective with weight 1/ᾱ_t.
"""
from __future__ import annotations

import time

import sympy as sp

from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import abar_prev, alpha, eps, sigma0, x0, xi

ab = sp.Symbol(r"\bar{\alpha}_t", positive=True)
psi, phi = sp.symbols("psi_t phi_t", real=True)
v_hat = sp.Symbol(r"\hat{v}", real=True)
eta_sym = sp.Symbol("eta", real=True)   # the ε-target σ_0 ε + ϕ_t ξ


def statements() -> dict[str, sp.Expr]:
    a, s = sp.sqrt(ab), sp.sqrt(1 - ab)
    return {
        "eps_from_v": a * v_hat + s * sp.Symbol("x_t", real=True),    # η̂ = √ᾱ v̂ + √(1-ᾱ) x_t
        "x0_from_v": a * sp.Symbol("x_t", real=True) - s * v_hat,     # x̂_0 = √ᾱ x_t - √(1-ᾱ) v̂
        "v_weight": 1 / ab,                                           # ‖v-v̂‖² = ‖η-η̂‖²/ᾱ_t
        "v_def": a * eta_sym - s * x0,                                # v = √ᾱ η - √(1-ᾱ) x_0
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    a, s = sp.sqrt(ab), sp.sqrt(1 - ab)
    xt = sp.Symbol("x_t", real=True)
    xt_val = a * x0 + s * (sigma0 * eps + psi * xi)
    eta = sigma0 * eps + phi * xi
    v = st["v_def"].subs(eta_sym, eta)
    at_truth = {v_hat: v, xt: xt_val}
    steps = [Step("η = √ᾱ v + √(1-ᾱ) x_t - (1-ᾱ)(ψ-ϕ)ξ", st["eps_from_v"].subs(at_truth) - eta,
                  (1 - ab) * (psi - phi) * xi),
             Step("x_0 = √ᾱ x_t - √(1-ᾱ) v - √ᾱ√(1-ᾱ)(ψ-ϕ)ξ", st["x0_from_v"].subs(at_truth) - x0,
                  a * s * (psi - phi) * xi),
             Step("ψ = ϕ ⇒ exact ε-conversion", (st["eps_from_v"].subs(at_truth) - eta).subs(psi, phi), 0),
             Step("ψ = ϕ ⇒ exact x_0-conversion", (st["x0_from_v"].subs(at_truth) - x0).subs(psi, phi), 0)]
    # Loss equivalence: with η̂ from v̂, (v - v̂)² = (η - η̂)²/ᾱ when ψ = ϕ.
    eta_hat = st["eps_from_v"].subs(xt, xt_val.subs(psi, phi))
    steps.append(Step("ψ = ϕ: (v - v̂)² = (η - η̂)² · (1/ᾱ_t)", (v.subs(psi, phi) - v_hat)**2,
                      st["v_weight"] * (eta.subs(psi, phi) - eta_hat)**2))
    # With ψ ≠ ϕ the minimiser of the v objective, converted, is biased by (1-ᾱ)(ψ-ϕ)E[ξ|x_t].
    steps.append(Step("ψ ≠ ϕ: converted v-minimiser = E[η|x_t] + (1-ᾱ)(ψ-ϕ)E[ξ|x_t] (linearity)",
                      sp.expand(st["eps_from_v"].subs(at_truth)), sp.expand(eta + (1 - ab) * (psi - phi) * xi)))
    return run_steps(
        "vpred", "v-prediction and its equivalence to ε-prediction",
        ["v := √ᾱ_t (σ_0 ε + ϕ_t ξ) - √(1-ᾱ_t) x_0 (the ε-target of result 'elbo')",
         "a trainer converts with η̂ = √ᾱ_t v̂ + √(1-ᾱ_t) x_t and x̂_0 = √ᾱ_t x_t - √(1-ᾱ_t) v̂"],
        st, steps,
        "v-prediction is the ε objective reweighted by 1/ᾱ_t exactly when ψ_t = ϕ_t (the balanced "
        "schedule). Otherwise the usual conversions are biased by (1-ᾱ_t)(ψ_t-ϕ_t)ξ, which the network "
        "cannot see. v-prediction also stays finite at ᾱ_T = 0, where ε-prediction's 1/√α_T does not.",
        t0)
