"""DDIM-style (non-Markovian) steps for the generalized model, and why none is deterministic.

The family of steps that keep every marginal q(x_{t-1} | x_0, ξ) = N(√ᾱ_{t-1} x_0 + c_{t-1} ξ, σ_0²(1-ᾱ_{t-1}) I):

    x_{t-1} = √ᾱ_{t-1} x_0 + c_{t-1} ξ + k (x_t - √ᾱ_t x_0 - c_t ξ) + s z,   s² = σ_0²[(1-ᾱ_{t-1}) - k²(1-ᾱ_t)],

one member per k (DDIM's σ_t).  A sampler replaces x_0 and ξ by their estimates given x_t; an ε- or
v-network trained on the paper's loss yields x̂_0 but not E[ξ | x_t] separately.  Results:
- deterministic member (s = 0): k = √((1-ᾱ_{t-1})/(1-ᾱ_t)), and its ξ-coefficient is √(1-ᾱ_{t-1})(ψ_{t-1} - ψ_t);
- for the balanced schedule ψ_t² - ψ_{t-1}² = K² β_t/ᾱ_t > 0, so that coefficient is never 0;
- the member without a ξ-term (k = c_{t-1}/c_t) has k = the posterior x_t-coefficient and s² = σ_0² β̃_t:
  it *is* the ancestral sampler.  So, from an ε/v network alone, the ancestral sampler is the only
  marginal-preserving step of this family; a deterministic one needs E[ξ | x_t] (an extra output).
"""
from __future__ import annotations

import time

import sympy as sp

from . import balanced, posterior
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import ABAR, BETA, K, abar_prev, alpha, eps, sigma0, x0, xi, xt

k = sp.Symbol("k", positive=True)                       # x_t-residual coefficient of the step
psi_t, psi_prev = sp.symbols(r"psi_t \psi_{t-1}", real=True)


def _balanced(name: str, previous: bool = False) -> sp.Expr:
    """Closed form `name` of result 'balanced' at step t, or at t-1 (ᾱ_t = α_t ᾱ_{t-1} with α_t = 1 is ᾱ_{t-1})."""
    e = balanced.statements()[name]
    return e.subs(alpha, 1) if previous else e


def statements() -> dict[str, sp.Expr]:
    return {
        "var_residual": sigma0**2 * ((1 - abar_prev) - k**2 * (1 - ABAR)),     # s² for a given k
        "k_deterministic": sp.sqrt(1 - abar_prev) / sp.sqrt(1 - ABAR),
        "xi_coef_deterministic": sp.sqrt(1 - abar_prev) * (psi_prev - psi_t),
        "k_xi_free_balanced": sp.sqrt(alpha) * (1 - abar_prev) / (1 - ABAR),
        "var_xi_free_balanced": sigma0**2 * BETA * (1 - abar_prev) / (1 - ABAR),
        "psi_sq_increment_balanced": K**2 * BETA / ABAR,
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    c_t, c_prev = sp.symbols(r"c_t c_{t-1}", real=True)
    s2 = st["var_residual"]

    def step(kk, x_t):
        """Mean of the step given (x_0, ξ, x_t); the noise s z has mean 0 and variance s2."""
        return sp.sqrt(abar_prev) * x0 + c_prev * xi + kk * (x_t - sp.sqrt(ABAR) * x0 - c_t * xi)
    mean_t = sp.sqrt(ABAR) * x0 + c_t * xi
    # Forward marginals with the ξ-coefficients written through ψ: c = √(1-ᾱ) ψ (result 'forward').
    via_psi = {c_t: sp.sqrt(1 - ABAR) * psi_t, c_prev: sp.sqrt(1 - abar_prev) * psi_prev}
    closed = {c_t: _balanced("c"), c_prev: _balanced("c", previous=True)}
    eta_t = sigma0 * eps + psi_t * xi                    # balanced: the ε-target equals the input noise
    steps = [
        Step("every k keeps the mean: E[x_{t-1} | x_0, ξ] = √ᾱ_{t-1} x_0 + c_{t-1} ξ",
             step(k, mean_t), sp.sqrt(abar_prev) * x0 + c_prev * xi),
        Step("every k keeps the variance: k²·σ_0²(1-ᾱ_t) + s² = σ_0²(1-ᾱ_{t-1})",
             k**2 * sigma0**2 * (1 - ABAR) + s2, sigma0**2 * (1 - abar_prev)),
        Step("deterministic member: s² = 0 at k = √((1-ᾱ_{t-1})/(1-ᾱ_t))",
             s2.subs(k, st["k_deterministic"]), 0),
        Step("its ξ-coefficient c_{t-1} - k c_t = √(1-ᾱ_{t-1})(ψ_{t-1} - ψ_t)",
             (c_prev - st["k_deterministic"] * c_t).subs(via_psi), st["xi_coef_deterministic"]),
        Step("η-form (ψ = ϕ): x_{t-1} = √ᾱ_{t-1} x_0 + √(1-ᾱ_{t-1}) η_t + [ξ-coefficient] ξ",
             step(st["k_deterministic"], sp.sqrt(ABAR) * x0 + sp.sqrt(1 - ABAR) * eta_t).subs(via_psi),
             sp.sqrt(abar_prev) * x0 + sp.sqrt(1 - abar_prev) * eta_t + st["xi_coef_deterministic"] * xi),
        Step("DDPM (ψ ≡ 0): the deterministic member is DDIM, √ᾱ_{t-1} x_0 + √(1-ᾱ_{t-1}) σ_0 ε",
             step(st["k_deterministic"], sp.sqrt(ABAR) * x0 + sp.sqrt(1 - ABAR) * sigma0 * eps).subs(via_psi)
             .subs({psi_t: 0, psi_prev: 0}), sp.sqrt(abar_prev) * x0 + sp.sqrt(1 - abar_prev) * sigma0 * eps),
        Step("balanced: ψ_t² - ψ_{t-1}² = K² β_t/ᾱ_t (> 0: ψ strictly increases, the ξ-term never vanishes)",
             _balanced("psi")**2 - _balanced("psi", previous=True)**2, st["psi_sq_increment_balanced"]),
        Step("balanced: the ξ-free member is k = c_{t-1}/c_t = √α_t(1-ᾱ_{t-1})/(1-ᾱ_t)",
             (c_prev - st["k_xi_free_balanced"] * c_t).subs(closed), 0),
        Step("its residual variance is σ_0² β̃_t", s2.subs(k, st["k_xi_free_balanced"]), st["var_xi_free_balanced"]),
        Step("= the posterior's x_t-coefficient (result 'posterior')",
             st["k_xi_free_balanced"], posterior.statements()["coef_xt"]),
        Step("= the posterior variance (result 'posterior'): the ξ-free member is the ancestral step",
             st["var_xi_free_balanced"], posterior.statements()["var"]),
    ]
    return run_steps(
        "ddim", "DDIM-style steps: the deterministic one needs E[ξ | x_t]",
        ["non-Markovian steps keep q(x_{t-1} | x_0, ξ) of result 'forward' for every (x_0, ξ)",
         "the sampler only has x̂_0 (from an ε- or v-network trained on the loss of result 'elbo'); ψ_t = ϕ_t",
         "balanced schedule in its closed form (result 'balanced'), 0 < ᾱ_t < ᾱ_{t-1} ≤ 1"],
        st, steps,
        "A deterministic DDIM step for this model adds √(1-ᾱ_{t-1})(ψ_{t-1}-ψ_t)·E[ξ|x_t] to the usual update; "
        "with the balanced schedule ψ_t strictly increases, so that term is never zero and an ε/v network "
        "trained on the paper's loss cannot supply it. The only step of the family free of ξ is exactly the "
        "ancestral (DDPM) step with variance σ_0² β̃_t, which is the sampler gendiff ships. A deterministic "
        "sampler needs a network that also predicts ξ (or E[ξ|x_t] in closed form, as for Gaussian data).",
        t0)
