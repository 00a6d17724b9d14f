"""DPM-Solver++(2M) (Lu et al. 2022, data-prediction multistep) for x_t = α_t x_0 + σ_t ε + c_t ξ.

With α = √ᾱ, σ = σ_0√(1-ᾱ), λ = log(α/σ) and u = c/σ (= ψ/σ_0), the probability-flow ODE of result
'ddim_ode' reads dx/dτ = (σ̇/σ) x + σ (α/σ)˙ x̂_0 + σ (c/σ)˙ ξ̂, so by variation of constants
x_s = (σ_s/σ_t) x_t + σ_s ∫_{λ_t}^{λ_s} e^λ x̂_0 dλ + σ_s ∫_{u_t}^{u_s} ξ̂ du.  Results:
- with the means frozen at t the update is (σ_s/σ_t) x_t + (α_s - α_t σ_s/σ_t) x̂_0 + (c_s - c_t σ_s/σ_t) ξ̂,
  result 'ddim''s deterministic jump (first_order_is_ddim);
- 2M: replace x̂_0 by D_x = x̂_0 + h/(2h')(x̂_0 - x̂_0') (h = λ_s - λ_t, h' = λ_t - λ_{t'}, the "midpoint"
  form) and ξ̂ by D_ξ = ξ̂ + Δ/(2Δ')(ξ̂ - ξ̂') (Δ = u_s - u_t, Δ' = u_t - u_{t'}); with constant means it is
  the DDIM jump exactly; at ξ ≡ 0 it is diffusers' dpmsolver++ midpoint update;
- local error: for x̂_0 linear in λ the x̂_0-part errs by q e^{λ_t}(h³/12 + O(h⁴)) (first-order DDIM:
  q e^{λ_t}(h²/2 + O(h³))), i.e. local O(h³), global second order; the ξ̂-part is exact for ξ̂ linear in u.
"""
from __future__ import annotations

import time

import sympy as sp

from . import ddim
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import sigma0, x0, xi, xt

h, hp, q, p_ = sp.symbols("h h' q p", positive=True)
lt = sp.Symbol(r"\lambda_t", real=True)
lam_v = sp.Symbol("lambda", real=True)
Du, Dup = sp.symbols(r"\Delta \Delta'", positive=True)
x0_hat, xi_hat = ddim.x0_hat, ddim.xi_hat
x0_prev, xi_prev = sp.symbols(r"\hat{x}_0' \hat{\xi}'", real=True)
ab_t, ab_s, c_t, c_s = ddim.ab_t, ddim.ab_s, ddim.c_t, ddim.c_s
tau = sp.Symbol("tau", real=True)
al_f, sg_f, c_f = sp.Function(r"\alpha"), sp.Function(r"\sigma"), sp.Function("c")
s_f, a_f = sp.Function("s"), sp.Function("a")


def _alpha_sigma(ab):
    return sp.sqrt(ab), sigma0 * sp.sqrt(1 - ab)


def statements() -> dict[str, sp.Expr]:
    (al_t, sg_t), (al_s, sg_s) = _alpha_sigma(ab_t), _alpha_sigma(ab_s)
    r = sg_s / sg_t
    D_x = x0_hat + h / (2 * hp) * (x0_hat - x0_prev)
    D_xi = xi_hat + Du / (2 * Dup) * (xi_hat - xi_prev)
    return {
        "first_order": r * xt + (al_s - al_t * r) * x0_hat + (c_s - c_t * r) * xi_hat,
        "update_2m": r * xt + (al_s - al_t * r) * D_x + (c_s - c_t * r) * D_xi,
        "midpoint_weight": h / (2 * hp),
        "local_error_2m": h**3 / 12,
        "local_error_ddim": h**2 / 2,
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    (al_t, sg_t), (al_s, sg_s) = _alpha_sigma(ab_t), _alpha_sigma(ab_s)
    kd = ddim.statements()["k_deterministic"]

    # ODE in data-prediction form vs. result 'ddim_ode''s (s, a, c) form, with ε̂ = (x - s x̂_0 - c ξ̂)/a
    s, a, c = s_f(tau), a_f(tau), c_f(tau)
    sd, ad, cd = (sp.diff(f(tau), tau) for f in (s_f, a_f, c_f))
    X = sp.Symbol("x", real=True)
    e_hat = (X - s * x0_hat - c * xi_hat) / a
    vel_ode = sd / s * X + (ad - a * sd / s) * e_hat + (cd - c * sd / s) * xi_hat      # ddim_ode.velocity
    vel_dp = ad / a * X + a * sp.diff(s / a, tau) * x0_hat + a * sp.diff(c / a, tau) * xi_hat
    frozen = a * (xt / a_f(0) + (s / a - s_f(0) / a_f(0)) * x0_hat + (c / a - c_f(0) / a_f(0)) * xi_hat)
    # midpoint rule against the exact integral for x̂_0(λ) = p + q (λ - λ_t): x̂_0' = p - q h'
    exact_int = sp.integrate(sp.exp(lam_v) * (p_ + q * (lam_v - lt)), (lam_v, lt, lt + h))
    mid = (sp.exp(lt + h) - sp.exp(lt)) * (p_ + st["midpoint_weight"] * (p_ - (p_ - q * hp)))
    err_2m = sp.simplify((exact_int - mid) / (q * sp.exp(lt)))
    err_1 = sp.simplify((exact_int - (sp.exp(lt + h) - sp.exp(lt)) * p_) / (q * sp.exp(lt)))
    u_t = sp.Symbol("u_t", real=True)
    uu = sp.Symbol("u", real=True)
    exact_u = sp.integrate(p_ + q * (uu - u_t), (uu, u_t, u_t + Du))
    e_h = (al_t * sg_s) / (sg_t * al_s)                        # e^{-h} = e^{λ_t - λ_s}
    m0, m1 = sp.symbols("m_0 m_1", real=True)
    diffusers_mid = (sg_s / sg_t) * xt - al_s * (e_h - 1) * m0 - sp.Rational(1, 2) * al_s * (e_h - 1) * (
        (m0 - m1) / (hp / h))
    steps = [
        Step("data-prediction form of the probability-flow velocity (result 'ddim_ode', ε̂ = (x - s x̂_0 - c ξ̂)/a): "
             "(ȧ/a) x + a (s/a)˙ x̂_0 + a (c/a)˙ ξ̂", vel_ode, vel_dp),
        Step("frozen means: a(τ)[x_t/a(0) + (s/a)|_0^τ x̂_0 + (c/a)|_0^τ ξ̂] solves it ...",
             sp.diff(frozen, tau), vel_dp.subs(X, frozen)),
        Step("... from x_t at τ = 0", frozen.subs(tau, 0), xt),
        Step("first order = result 'ddim''s deterministic jump (σ_s/σ_t = k)",
             st["first_order"], ddim.jump(kd, xt, x0_hat, xi_hat)),
        Step("constant means (x̂_0' = x̂_0, ξ̂' = ξ̂): the 2M update is the exact DDIM jump",
             st["update_2m"].subs({x0_prev: x0_hat, xi_prev: xi_hat}), ddim.jump(kd, xt, x0_hat, xi_hat)),
        Step("... and it is the first-order update plus (α_s - α_t σ_s/σ_t) h/(2h') (x̂_0 - x̂_0') + ξ̂-term",
             st["update_2m"] - st["first_order"],
             (al_s - al_t * sg_s / sg_t) * h / (2 * hp) * (x0_hat - x0_prev)
             + (c_s - c_t * sg_s / sg_t) * Du / (2 * Dup) * (xi_hat - xi_prev)),
        Step("ξ ≡ 0: diffusers' dpmsolver++ midpoint update (σ_s/σ_t)x - α_s(e^{-h}-1)(D0 + D1/2), D1 = (m0-m1)/r0, "
             "r0 = h'/h", st["update_2m"].subs({xi_hat: 0, xi_prev: 0, x0_hat: m0, x0_prev: m1}), diffusers_mid),
        Step("x̂_0 linear in λ: the midpoint rule's error / (q e^{λ_t}) = h³/12 + O(h⁴) (local O(h³): 2nd order)",
             sp.series(err_2m, h, 0, 4).removeO(), st["local_error_2m"]),
        Step("... while the frozen (DDIM) update errs by q e^{λ_t}(h²/2 + O(h³)) (first order)",
             sp.series(err_1, h, 0, 3).removeO(), st["local_error_ddim"]),
        Step("ξ̂ linear in u: Δ·D_ξ (with ξ̂' = p - qΔ') is the exact integral ∫ ξ̂ du",
             Du * (p_ + Du / (2 * Dup) * (p_ - (p_ - q * Dup))), exact_u),
        Step("the jump keeps E[x_s | x_0, ξ] at the true means: first_order(x_t = α_t x_0 + c_t ξ, x̂_0 = x_0, ξ̂ = ξ)",
             st["first_order"].subs(xt, al_t * x0 + c_t * xi).subs({x0_hat: x0, xi_hat: xi}), al_s * x0 + c_s * xi),
    ]

    return run_steps(
        "dpm_solver", "DPM-Solver++(2M) with ξ: the multistep update, its DDIM limit and its order",
        ["x_t = α_t x_0 + σ_t ε + c_t ξ, α = √ᾱ, σ = σ_0√(1-ᾱ), λ = log(α/σ), u = c/σ (functions of τ, σ > 0)",
         "the probability-flow ODE of result 'ddim_ode' with x̂_0 = E[x_0|x], ξ̂ = E[ξ|x]",
         "2M: x̂_0 and ξ̂ extrapolated linearly (in λ and in u) from the previous grid step t' > t"],
        st, steps,
        "In data-prediction form the ODE integrates to x_s = (σ_s/σ_t)x_t + σ_s∫e^λ x̂_0 dλ + σ_s∫ξ̂ du. Frozen "
        "means give the deterministic DDIM jump. The 2M update uses D_x = x̂_0 + h/(2h')(x̂_0 - x̂_0') and "
        "D_ξ = ξ̂ + Δ/(2Δ')(ξ̂ - ξ̂'); with constant means it is the exact DDIM jump, at ξ ≡ 0 it is diffusers' "
        "dpmsolver++ (midpoint) update, and for means that vary smoothly its local error is O(h³) "
        "(leading term q e^{λ_t} h³/12 for x̂_0 linear in λ, against h²/2 for DDIM): a second-order method.",
        t0, notes=["the whitened variant (gendiff.jumps.whitened2m_step) applies the same 2M extrapolation per "
                   "eigen-direction of Σ_ξ to the ξ-marginal flow, whose noise std is ν = √(σ_0²(1-ᾱ) + c²λ_ξ)"])
