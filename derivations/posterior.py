"""Posterior q(x_{t-1} | x_t, x_0, ξ) by completing the square [2412.03134 §3.2].

Results (per component): variance σ_0² β̃_t with β̃_t = β_t (1-ᾱ_{t-1})/(1-ᾱ_t); mean
μ̃_t = A_t x_0 + B_t x_t + C_t ξ with A_t = √ᾱ_{t-1} β_t/(1-ᾱ_t), B_t = √α_t (1-ᾱ_{t-1})/(1-ᾱ_t),
C_t = (β_t c_{t-1} - α_t γ_t (1-ᾱ_{t-1}))/(1-ᾱ_t).
"""
from __future__ import annotations

import time

import sympy as sp

from . import forward
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import (ABAR, BETA, abar_prev, alpha, c_prev, gamma, log_normal, sigma0, x0, xi,
                      xprev, xt)


def statements() -> dict[str, sp.Expr]:
    return {
        "var": sigma0**2 * BETA * (1 - abar_prev) / (1 - ABAR),
        "coef_x0": sp.sqrt(abar_prev) * BETA / (1 - ABAR),
        "coef_xt": sp.sqrt(alpha) * (1 - abar_prev) / (1 - ABAR),
        "coef_xi": (BETA * c_prev - alpha * gamma * (1 - abar_prev)) / (1 - ABAR),
    }


def log_joint_in_xprev():
    """log q(x_t | x_{t-1}, ξ) + log q(x_{t-1} | x_0, ξ): the definitions."""
    lik = log_normal(xt, sp.sqrt(alpha) * (xprev + gamma * xi), BETA * sigma0**2)
    prior = log_normal(xprev, sp.sqrt(abar_prev) * x0 + c_prev * xi, sigma0**2 * (1 - abar_prev))
    return lik, prior


def complete_square():
    """Precision and mean of x_{t-1} read off the quadratic log-density."""
    lik, prior = log_joint_in_xprev()
    poly = sp.Poly(sp.expand(lik + prior), xprev)
    a2, a1 = poly.coeff_monomial(xprev**2), poly.coeff_monomial(xprev)
    precision = sp.simplify(-2 * a2)
    return precision, sp.simplify(a1 / precision)


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    fw = forward.statements()
    precision, mean = complete_square()
    mean_st = st["coef_x0"] * x0 + st["coef_xt"] * xt + st["coef_xi"] * xi
    steps = [Step("completing the square: variance", 1 / precision, st["var"]),
             Step("completing the square: mean", mean, mean_st)]
    lik, prior = log_joint_in_xprev()
    marg = log_normal(xt, fw["mean_x0"] * x0 + fw["c"] * xi, fw["var"])
    post = log_normal(xprev, mean_st, st["var"])
    steps.append(Step("density identity q(x_{t-1}|x_t,x_0,ξ) q(x_t|x_0,ξ) = "
                      "q(x_t|x_{t-1},ξ) q(x_{t-1}|x_0,ξ)",
                      sp.expand_log(post + marg - lik - prior, force=True), 0))
    one = {abar_prev: 1, c_prev: 0}
    steps += [Step("t=1: variance vanishes (ᾱ_0 = 1)", st["var"].subs(one), 0),
              Step("t=1: mean is x_0", (mean_st.subs(one)), x0)]
    return run_steps(
        "posterior", "Posterior q(x_{t-1} | x_t, x_0, ξ)",
        ["definitions of q(x_t|x_{t-1},ξ) and of the forward marginal (result 'forward')",
         "t ≥ 2 for the general case; t = 1 handled by ᾱ_0 = 1, c_0 = 0",
         "log-densities combined with log(ab) = log a + log b for positive variances"],
        st, steps,
        "The posterior has DDPM's variance and DDPM's x_0 and x_t coefficients; ξ only shifts its "
        "mean, by C_t ξ. So the network never needs ξ itself: it is absorbed in the target.",
        t0)
