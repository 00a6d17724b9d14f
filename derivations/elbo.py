"""ELBO of the generalized model and the ε-parameterised loss [2412.03134 §3.2.5].

Joint p(x_{0:T}, ξ) = q(ξ) p(x_T | ξ) Π_t p_θ(x_{t-1} | x_t), p(x_T | ξ) = N(ξ, σ_0² I),
p_θ(x_{t-1} | x_t) = N(μ_θ(x_t, t), σ_t² I). With μ_θ = (x_t - β_t/√(1-ᾱ_t) ε_θ)/√α_t the θ-dependent
part of each KL term is λ_t ‖σ_0 ε + ϕ_t ξ - ε_θ‖² with
ϕ_t = γ_t √α_t √(1-ᾱ_t) / β_t and λ_t = β_t² / (2 σ_t² α_t (1-ᾱ_t)).
"""
from __future__ import annotations

import time

import sympy as sp

from . import forward, posterior
from .core import Perturb, Step, apply_perturb, require_horizon, run_steps
from .symbols import (ABAR, BETA, abar_T, abar_prev, alpha, c_prev, eps, eps_theta, gamma,
                      indexed, log_normal, sigma0, sigma_t2, x0, xi)

phi_sym = sp.Symbol("phi_t", real=True)


def statements() -> dict[str, sp.Expr]:
    return {
        "phi": gamma * sp.sqrt(alpha) * sp.sqrt(1 - ABAR) / BETA,
        "lam": BETA**2 / (2 * sigma_t2 * alpha * (1 - ABAR)),
        "mu_eps_coef": BETA / (sp.sqrt(alpha) * sp.sqrt(1 - ABAR)),   # μ = x_t/√α_t - coef·ε̂
    }


def decomposition_step(T: int) -> Step:
    """log q(x_{1:T}|x_0,ξ) = log q(x_T|x_0,ξ) + Σ_{t≥2} log q(x_{t-1}|x_t,x_0,ξ), unrolled."""
    require_horizon(T)
    al, ga = indexed("alpha", T, positive=True), indexed("gamma", T, positive=True)
    xs = [x0] + list(sp.symbols(f"x_1:{T + 1}", real=True))
    lhs = sum(log_normal(xs[t], sp.sqrt(al[t - 1]) * (xs[t - 1] + ga[t - 1] * xi),
                         (1 - al[t - 1]) * sigma0**2) for t in range(1, T + 1))
    fw, po = forward.statements(), posterior.statements()
    abar_p, c_p, rhs = sp.Integer(1), sp.Integer(0), 0
    marg = []
    for t in range(1, T + 1):
        sub = {alpha: al[t - 1], gamma: ga[t - 1], abar_prev: abar_p, c_prev: c_p}
        if t >= 2:
            mean = (po["coef_x0"] * x0 + po["coef_xt"] * xs[t] + po["coef_xi"] * xi).subs(sub)
            rhs += log_normal(xs[t - 1], mean, po["var"].subs(sub))
        marg = [fw["mean_x0"].subs(sub), fw["c"].subs(sub), fw["var"].subs(sub)]
        abar_p, c_p = abar_p * al[t - 1], marg[1]
    rhs += log_normal(xs[T], marg[0] * x0 + marg[1] * xi, marg[2])
    return Step(f"ELBO decomposition of log q(x_1:T | x_0, ξ), T={T}",
                sp.expand_log(lhs - rhs, force=True), 0)


def telescoping_steps(T: int) -> list[Step]:
    """General T: Σ_t log q(x_t|x_{t-1},ξ) telescopes to log q(x_T|x_0,ξ) + Σ_{t≥2} log q(x_{t-1}|x_t,x_0,ξ).

    Uses only the density identity of result 'posterior' (Markov: q(x_t|x_{t-1},x_0,ξ) =
    q(x_t|x_{t-1},ξ)): log q(x_t|x_{t-1}) = P_t + M_t - M_{t-1} for t ≥ 2, with P_t the posterior
    and M_t the marginal log-density; at t = 1, log q(x_1|x_0) = M_1.  Checked for T = 2..T.
    """
    require_horizon(T)
    P, M = sp.Function("P"), sp.Function("M")
    out = []
    for TT in range(2, T + 1):
        forward_sum = M(1) + sum(P(t) + M(t) - M(t - 1) for t in range(2, TT + 1))
        out.append(Step(f"telescoping of the ELBO decomposition, T={TT}", forward_sum,
                        M(TT) + sum(P(t) for t in range(2, TT + 1))))
    return out


def derive(T_unroll: int = 6, perturb: Perturb | None = None):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    fw, po = forward.statements(), posterior.statements()
    steps = [decomposition_step(2), *telescoping_steps(T_unroll)]
    # Reparameterise the posterior mean: substitute x_0 = (x_t - √(1-ᾱ_t)(σ0 ε + ψ_t ξ))/√ᾱ_t.
    xt_val = fw["mean_x0"] * x0 + sp.sqrt(1 - ABAR) * (sigma0 * eps + fw["psi"] * xi)
    mu_tilde = po["coef_x0"] * x0 + po["coef_xt"] * xt_val + po["coef_xi"] * xi
    mu_form = xt_val / sp.sqrt(alpha) - st["mu_eps_coef"] * (sigma0 * eps + phi_sym * xi)
    phi_solved = sp.solve(sp.expand(mu_tilde - mu_form), phi_sym)
    steps.append(Step("ϕ_t solves μ̃_t = (x_t - β_t/√(1-ᾱ_t)(σ0 ε + ϕ_t ξ))/√α_t",
                      phi_solved[0] if len(phi_solved) == 1 else sp.nan, st["phi"]))
    steps.append(Step("ε-form of μ̃_t with the stated ϕ_t", mu_tilde, mu_form.subs(phi_sym, st["phi"])))
    # KL(q(x_{t-1}|x_t,x_0,ξ) || p_θ): θ-dependent part (μ̃ - μ_θ)²/(2σ_t²) = λ_t (target - ε_θ)².
    mu_theta = xt_val / sp.sqrt(alpha) - st["mu_eps_coef"] * eps_theta
    steps.append(Step("KL term = λ_t (σ0 ε + ϕ_t ξ - ε_θ)²",
                      (mu_tilde - mu_theta)**2 / (2 * sigma_t2),
                      st["lam"] * (sigma0 * eps + st["phi"] * xi - eps_theta)**2))
    # Gaussian KL, proved for generic means and variances, then used with μ̃_t, σ0² β̃_t, μ_θ, σ_t².
    y, m1, m2 = sp.symbols("y m_1 m_2", real=True)
    v1, v2 = sp.symbols("v_1 v_2", positive=True)
    kl = sp.Rational(1, 2) * (v1 / v2 - 1 - sp.log(v1 / v2)) + (m1 - m2)**2 / (2 * v2)
    poly = sp.Poly(sp.expand(log_normal(y, m1, v1) - log_normal(y, m2, v2)), y)
    expect = (poly.coeff_monomial(y**2) * (m1**2 + v1) + poly.coeff_monomial(y) * m1
              + poly.coeff_monomial(1))          # E_q[y] = m1, E_q[y²] = m1² + v1
    steps.append(Step("KL(N(m1,v1) || N(m2,v2)) = ½(v1/v2 - 1 - log(v1/v2)) + (m1-m2)²/(2 v2)",
                      sp.expand_log(expect - kl, force=True), 0))
    # t = 1: reconstruction term -log p_θ(x_0|x_1) has the same form (x_0 = μ̃_1).
    one = {abar_prev: 1, c_prev: 0}
    steps.append(Step("t=1: x_0 = (x_1 - β_1/√(1-ᾱ_1)(σ0 ε + ϕ_1 ξ))/√α_1",
                      mu_form.subs(phi_sym, st["phi"]).subs(one), x0))
    # Prior term: KL(q(x_T|x_0,ξ) || N(ξ, σ0²)) is θ-free; with c_T = 1 it has no ξ term.
    cT = sp.Symbol("c_T", real=True)
    prior_kl = sp.Rational(1, 2) * ((1 - abar_T) - 1 - sp.log(1 - abar_T)
                                    + (sp.sqrt(abar_T) * x0 + (cT - 1) * xi)**2 / sigma0**2)
    steps.append(Step("prior term with c_T = 1 does not involve ξ", sp.diff(prior_kl.subs(cT, 1), xi), 0))
    # DDPM reduction (ξ ≡ 0 or γ ≡ 0).
    steps += [Step("γ ≡ 0: ψ_t = 0", fw["psi"].subs({gamma: 0, c_prev: 0}), 0),
              Step("γ ≡ 0: ϕ_t = 0", st["phi"].subs(gamma, 0), 0),
              Step("ξ ≡ 0, σ0 = 1: loss is DDPM's λ_t ‖ε - ε_θ‖²",
                   ((mu_tilde - mu_theta)**2 / (2 * sigma_t2)).subs({xi: 0, sigma0: 1}),
                   BETA**2 / (2 * sigma_t2 * alpha * (1 - ABAR)) * (eps - eps_theta)**2)]
    return run_steps(
        "elbo", "ELBO, loss weight λ_t and target σ_0 ε + ϕ_t ξ",
        ["p(x_T|ξ) = N(ξ, σ_0² I), p_θ(x_{t-1}|x_t) = N(μ_θ(x_t,t), σ_t² I); the network does not see ξ",
         "μ_θ(x_t,t) = (x_t - β_t/√(1-ᾱ_t) ε_θ(x_t,t))/√α_t",
         "results 'forward' and 'posterior'; decomposition explicit for T = 2, telescoped for T ≤ 6"],
        st, steps,
        "Training minimises λ_t ‖σ_0 ε + ϕ_t ξ − ε_θ(x_t, t)‖² with x_t built from σ_0 ε + ψ_t ξ: "
        "the input and the target carry ξ with different weights unless γ is balanced. "
        "With γ ≡ 0 it is exactly DDPM's loss.",
        t0)
