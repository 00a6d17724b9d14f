"""DDIM-style (non-Markovian) jumps t → s < t for the generalized model.

With the marginal q(x_s | x_0, ξ) = N(√ᾱ_s x_0 + c_s ξ, σ_0²(1-ᾱ_s) I) of result 'forward', the steps

    x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k (x_t - √ᾱ_t x̂_0 - c_t ξ̂) + std·z,   std² = σ_0²[(1-ᾱ_s) - k²(1-ᾱ_t)],

keep q(x_s | x_0, ξ) for every k when (x̂_0, ξ̂) = (x_0, ξ).  A sampler uses x̂_0 = E[x_0 | x_t] and
ξ̂ = E[ξ | x_t], both affine in the network's η̂ (result 'xi_posterior').  Results:
- deterministic member: k = √((1-ᾱ_s)/(1-ᾱ_t)); it is x_s = √ᾱ_s x̂_0 + √(1-ᾱ_s)(σ_0 ε̂ + ψ_s ξ̂),
  and its ξ̂-coefficient is √(1-ᾱ_s)(ψ_s - ψ_t);
- DDIM's family: std² = η² σ_0² (1-ᾱ_s)/(1-ᾱ_t) (1 - ᾱ_t/ᾱ_s), real k for 0 ≤ η ≤ 1; η = 0 is the
  deterministic member;
- s = t-1, η = 1: std² = σ_0² β̃_t and the coefficients of x_t, x̂_0, ξ̂ are the posterior's B_t, A_t, C_t
  for every γ: the ancestral step of result 'elbo' with σ_t² = σ_0² β̃_t;
- balanced schedule: ψ_t² - ψ_{t-1}² = K² β_t/ᾱ_t and C_t = 0, so the ancestral step has no ξ̂-term
  while the deterministic one has a non-zero ξ̂-coefficient.
"""
from __future__ import annotations

import time

import sympy as sp

from . import balanced, elbo, forward, posterior, xi_posterior
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import ABAR, BETA, K, abar_prev, alpha, c_prev, eps, gamma, sigma0, x0, xi, xt

k = sp.Symbol("k", positive=True)                       # x_t-residual coefficient of the step
ab_t = sp.Symbol(r"\bar{\alpha}_t", positive=True)      # ᾱ_t (= vpred.ab)
ab_s = sp.Symbol(r"\bar{\alpha}_s", positive=True)      # ᾱ_s, s < t: 0 < ᾱ_t < ᾱ_s ≤ 1
eta = sp.Symbol(r"\eta_{\mathrm{DDIM}}", nonnegative=True)   # DDIM's η
psi_t, psi_s = sp.symbols(r"psi_t psi_s", real=True)
psi_prev = sp.Symbol(r"\psi_{t-1}", real=True)
c_t, c_s = sp.symbols(r"c_t c_s", real=True)
x0_hat, xi_hat = sp.symbols(r"\hat{x}_0 \hat{\xi}", real=True)
# 1/SNR parametrisation that encodes 0 < ᾱ_t < ᾱ_s < 1: ᾱ_s = 1/(1+ν), ᾱ_t = 1/(1+ν+w), ν, w > 0.
nu, w = sp.symbols("nu w", positive=True)
ORDERED = {ab_s: 1 / (1 + nu), ab_t: 1 / (1 + nu + w)}
PREV = {ab_t: ABAR, ab_s: abar_prev}                    # the one-step case s = t-1


def _balanced(name: str, previous: bool = False) -> sp.Expr:
    """Closed form `name` of result 'balanced' at step t, or at t-1 (ᾱ_t = α_t ᾱ_{t-1} with α_t = 1 is ᾱ_{t-1})."""
    e = balanced.statements()[name]
    return e.subs(alpha, 1) if previous else e


def statements() -> dict[str, sp.Expr]:
    var_ddim = eta**2 * sigma0**2 * (1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)
    return {
        "var_jump": sigma0**2 * ((1 - ab_s) - k**2 * (1 - ab_t)),          # std² for a given k
        "k_deterministic": sp.sqrt(1 - ab_s) / sp.sqrt(1 - ab_t),
        "var_ddim": var_ddim,                                               # DDIM's choice of std²
        # the k with std² = var_ddim, written as a sum of terms ≥ 0 (real for 0 ≤ η ≤ 1, ᾱ_t < ᾱ_s ≤ 1)
        "k_ddim": sp.sqrt(1 - ab_s) / (1 - ab_t) * sp.sqrt(ab_t * (1 - ab_s) / ab_s + (1 - eta**2) * (1 - ab_t / ab_s)),
        "k_ancestral": sp.sqrt(ab_t / ab_s) * (1 - ab_s) / (1 - ab_t),     # η = 1
        "xi_coef_deterministic": sp.sqrt(1 - ab_s) * (psi_s - psi_t),
        "k_xi_free_balanced": sp.sqrt(alpha) * (1 - abar_prev) / (1 - ABAR),
        "var_xi_free_balanced": sigma0**2 * BETA * (1 - abar_prev) / (1 - ABAR),
        "psi_sq_increment_balanced": K**2 * BETA / ABAR,
    }


def jump(kk, x_t, x0_, xi_, cs=c_s, ct=c_t):
    """Mean of the jump given (x̂_0, ξ̂, x_t); the noise std·z has mean 0."""
    return sp.sqrt(ab_s) * x0_ + cs * xi_ + kk * (x_t - sp.sqrt(ab_t) * x0_ - ct * xi_)


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    po, fw, el = posterior.statements(), forward.statements(), elbo.statements()
    xp = xi_posterior.statements()
    s2 = st["var_jump"]
    kd, kdd, kanc, vd = st["k_deterministic"], st["k_ddim"], st["k_ancestral"], st["var_ddim"]
    mean_t = sp.sqrt(ab_t) * x0 + c_t * xi
    via_psi = {c_t: sp.sqrt(1 - ab_t) * psi_t, c_s: sp.sqrt(1 - ab_s) * psi_s}   # c = √(1-ᾱ) ψ ('forward')
    steps = [
        Step("every k keeps the mean: E[x_s | x_0, ξ] = √ᾱ_s x_0 + c_s ξ",
             jump(k, mean_t, x0, xi), sp.sqrt(ab_s) * x0 + c_s * xi),
        Step("every k keeps the variance: k²·σ_0²(1-ᾱ_t) + std² = σ_0²(1-ᾱ_s)",
             k**2 * sigma0**2 * (1 - ab_t) + s2, sigma0**2 * (1 - ab_s)),
        Step("deterministic member: std² = 0 at k = √((1-ᾱ_s)/(1-ᾱ_t))", s2.subs(k, kd), 0),
        Step("DDIM's family: std² at k_ddim is DDIM's η² σ_0²(1-ᾱ_s)/(1-ᾱ_t)(1-ᾱ_t/ᾱ_s)", s2.subs(k, kdd), vd),
        Step("η = 0: std² = 0", vd.subs(eta, 0), 0),
        Step("η = 0: k_ddim is the deterministic k", kdd.subs(eta, 0).subs(ORDERED), kd.subs(ORDERED)),
        Step("η = 1: k_ddim = √(ᾱ_t/ᾱ_s)(1-ᾱ_s)/(1-ᾱ_t) (0 < ᾱ_t < ᾱ_s < 1 via 1/SNR)",
             kdd.subs(eta, 1).subs(ORDERED), kanc.subs(ORDERED)),
        Step("deterministic member in noise form: x_s = √ᾱ_s x̂_0 + √(1-ᾱ_s)(σ_0 ε̂ + ψ_s ξ̂), with x̂_0, ε̂ "
             "of result 'xi_posterior' from any η̂, ξ̂",
             jump(kd, xt, xp["x0_hat"], xi_hat).subs(via_psi).subs(xi_posterior.ab, ab_t),
             (sp.sqrt(ab_s) * xp["x0_hat"] + sp.sqrt(1 - ab_s) * (sigma0 * xp["eps_hat"] + psi_s * xi_hat))
             .subs(xi_posterior.psi, psi_t).subs(xi_posterior.ab, ab_t)),
        Step("its ξ̂-coefficient c_s - k c_t = √(1-ᾱ_s)(ψ_s - ψ_t)", (c_s - kd * c_t).subs(via_psi),
             st["xi_coef_deterministic"]),
        Step("DDPM (ψ ≡ 0): the deterministic member is DDIM, √ᾱ_s x_0 + √(1-ᾱ_s) σ_0 ε",
             jump(kd, sp.sqrt(ab_t) * x0 + sp.sqrt(1 - ab_t) * sigma0 * eps, x0, xi).subs(via_psi)
             .subs({psi_t: 0, psi_s: 0}), sp.sqrt(ab_s) * x0 + sp.sqrt(1 - ab_s) * sigma0 * eps),
        # The one-step case s = t-1 (ᾱ_s = ᾱ_{t-1}, ᾱ_t = α_t ᾱ_{t-1}), η = 1: the ancestral step.
        Step("s = t-1, η = 1: std² = σ_0² β̃_t, the posterior variance (result 'posterior')", vd.subs(eta, 1).subs(PREV),
             po["var"]),
        Step("s = t-1, η = 1: k = B_t, the posterior's x_t-coefficient", kanc.subs(PREV), po["coef_xt"]),
        Step("s = t-1: the x̂_0-coefficient √ᾱ_{t-1} - B_t √ᾱ_t = A_t", sp.sqrt(abar_prev) - kanc.subs(PREV) * sp.sqrt(ABAR),
             po["coef_x0"]),
        Step("s = t-1, any γ: the ξ̂-coefficient c_{t-1} - B_t c_t = C_t (c_t = √α_t(c_{t-1} + γ_t))",
             c_prev - kanc.subs(PREV) * fw["c"], po["coef_xi"]),
        Step("A_t x_0 + B_t x_t + C_t ξ = (x_t - β_t/√(1-ᾱ_t)(σ_0 ε + ϕ_t ξ))/√α_t: with the conditional means "
             "it is μ_θ of result 'elbo' at ε_θ = E[σ_0 ε + ϕ_t ξ | x_t]",
             (po["coef_x0"] * x0 + po["coef_xt"] * xt + po["coef_xi"] * xi)
             .subs(xt, sp.sqrt(ABAR) * x0 + sp.sqrt(1 - ABAR) * sigma0 * eps + fw["c"] * xi),
             (sp.sqrt(ABAR) * x0 + sp.sqrt(1 - ABAR) * sigma0 * eps + fw["c"] * xi) / sp.sqrt(alpha)
             - el["mu_eps_coef"] * (sigma0 * eps + el["phi"] * xi)),
        # Balanced schedule (result 'balanced').
        Step("balanced: ψ_t² - ψ_{t-1}² = K² β_t/ᾱ_t (> 0: the deterministic ξ̂-coefficient is never 0)",
             _balanced("psi")**2 - _balanced("psi", previous=True)**2, st["psi_sq_increment_balanced"]),
        Step("balanced: the ξ̂-free k = c_{t-1}/c_t is √α_t(1-ᾱ_{t-1})/(1-ᾱ_t)",
             (c_prev - st["k_xi_free_balanced"] * c_t).subs({c_prev: _balanced("c", previous=True),
                                                             c_t: _balanced("c")}), 0),
        Step("... = the ancestral k (s = t-1, η = 1)", st["k_xi_free_balanced"], kanc.subs(PREV)),
        Step("... and its std² = the ancestral std² σ_0² β̃_t", s2.subs(PREV).subs(k, st["k_xi_free_balanced"]),
             st["var_xi_free_balanced"]),
        Step("... = DDIM's std² at s = t-1, η = 1", st["var_xi_free_balanced"], vd.subs(eta, 1).subs(PREV)),
    ]
    return run_steps(
        "ddim", "DDIM-style jumps t → s: deterministic, stochastic (η) and ancestral members",
        ["a jump keeps q(x_s | x_0, ξ) = N(√ᾱ_s x_0 + c_s ξ, σ_0²(1-ᾱ_s) I) of result 'forward' for every (x_0, ξ)",
         "0 ≤ s < t with 0 < ᾱ_t < ᾱ_s ≤ 1 independent (s = t-1: ᾱ_t = α_t ᾱ_{t-1}); 0 ≤ η ≤ 1",
         "a sampler replaces (x_0, ξ) by x̂_0 = E[x_0|x_t] and ξ̂ = E[ξ|x_t], which result 'xi_posterior' "
         "obtains from the network's output for Gaussian q(ξ); ε̂ = E[ε|x_t]",
         "balanced facts: the closed form of result 'balanced'"],
        st, steps,
        "Every member x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k(x_t - √ᾱ_t x̂_0 - c_t ξ̂) + std·z with std² = "
        "σ_0²[(1-ᾱ_s) - k²(1-ᾱ_t)] keeps the marginals q(x_s|x_0,ξ) for any jump t → s. DDIM's η ∈ [0, 1] "
        "picks std² = η² σ_0²(1-ᾱ_s)/(1-ᾱ_t)(1-ᾱ_t/ᾱ_s). η = 0 is deterministic: x_s = √ᾱ_s x̂_0 + "
        "√(1-ᾱ_s)(σ_0 ε̂ + ψ_s ξ̂), whose ξ̂-coefficient √(1-ᾱ_s)(ψ_s - ψ_t) is non-zero under the balanced "
        "schedule; it needs ξ̂ = E[ξ|x_t], which result 'xi_posterior' gives in closed form from an ε- or "
        "v-network for Gaussian q(ξ). s = t-1 with η = 1 is the ancestral step for every γ (posterior "
        "coefficients A_t, B_t, C_t and variance σ_0² β̃_t); under the balanced schedule C_t = 0.",
        t0, notes=["the deterministic jump needs ξ̂ = E[ξ|x_t]; for Gaussian q(ξ) it is affine in η̂ (result 'xi_posterior')",
                   "s = t-1, η = 1 reproduces the ancestral step's mean and variance for every γ"])
