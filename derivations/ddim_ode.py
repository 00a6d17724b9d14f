"""Continuous time: the deterministic DDIM jump and the probability-flow ODE of the ξ-marginal process.

Write the forward marginal as x(τ) = s(τ) x_0 + a(τ) ε + c(τ) ξ with s = √ᾱ, a = σ_0 √(1-ᾱ) and c the
ξ-coefficient (so a ε + c ξ = √(1-ᾱ) η with η = σ_0 ε + ψ ξ, ψ = σ_0 c/a).  The probability-flow ODE
of the process with ξ marginalised out is dx/dτ = E[ṡ x_0 + ȧ ε + ċ ξ | x(τ) = x].  Results:
- the velocity is (ṡ/s) x + (ȧ - a ṡ/s) ε̂ + (ċ - c ṡ/s) ξ̂, with ε̂ = E[ε|x], ξ̂ = E[ξ|x];
- in the network's terms: (ṡ/s) x + (ȧ - a ṡ/s)/σ_0 · η̂ + (ċ - c ȧ/a) ξ̂, and ċ - c ȧ/a = √(1-ᾱ) ψ̇;
  with ξ̂ = μ_ξ + K (η̂ - ψ μ_ξ) (result 'xi_posterior') it is affine in η̂;
- holding ε̂, ξ̂ fixed, x(τ) = s(τ) x̂_0 + a(τ) ε̂ + c(τ) ξ̂ solves the ODE from x(t) = x_t, and it is
  the deterministic jump of result 'ddim': exact when the conditional means are constant along the path;
- in general the jump's local error and its first τ-derivative vanish at τ = t (a first-order method),
  and the second derivative is s(t)[(a/s)' ε̂' + (c/s)' ξ̂'] at τ = t.
"""
from __future__ import annotations

import time

import sympy as sp

from . import ddim, xi_posterior
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import eps, sigma0, x0, xi, xt

tau, t, u = sp.symbols("tau t u", real=True)
s_f, a_f, c_f = sp.Function("s"), sp.Function("a"), sp.Function("c")
abar_f, psi_f = sp.Function(r"\bar{\alpha}"), sp.Function("psi")
eps_f, xi_f = sp.Function(r"\hat{\epsilon}"), sp.Function(r"\hat{\xi}")     # conditional means along the path
x = sp.Symbol("x", real=True)
eps_hat, xi_hat, eta_hat = sp.Symbol(r"\hat{\epsilon}", real=True), xi_posterior.xi_hat, xi_posterior.eta_hat
x0_hat = ddim.x0_hat
mu, K_t = xi_posterior.mu, xi_posterior.K_t


def _d(f):
    return sp.diff(f(tau), tau)


def _at_t(expr: sp.Expr) -> sp.Expr:
    """expr at τ = t: ∫_t^t = 0, then the remaining derivatives are evaluated."""
    e = expr.subs(tau, t)
    e = e.replace(lambda q: isinstance(q, sp.Integral) and q.limits[0][1] == q.limits[0][2], lambda q: 0)
    return e.doit()


def statements() -> dict[str, sp.Expr]:
    s, a, c = s_f(tau), a_f(tau), c_f(tau)
    sd, ad, cd = _d(s_f), _d(a_f), _d(c_f)
    psi = sigma0 * c / a
    eta_coef, xi_coef = (ad - a * sd / s) / sigma0, cd - c * ad / a
    return {
        "velocity": sd / s * x + (ad - a * sd / s) * eps_hat + (cd - c * sd / s) * xi_hat,
        "velocity_eta_coef": eta_coef,                                   # coefficient of η̂
        "velocity_xi_coef": xi_coef,                                     # coefficient of ξ̂ next to η̂
        "velocity_xi_coef_psi": sp.sqrt(1 - abar_f(tau)) * _d(psi_f),   # the same with a, c from ᾱ, ψ
        "velocity_gain": eta_coef + xi_coef * K_t,                       # η̂-slope after ξ̂ = μ + K(η̂ - ψμ)
        "velocity_offset": xi_coef * (1 - psi * K_t) * mu,
        "frozen_solution": s * x0_hat + a * eps_hat + c * xi_hat,       # x̂_0 = (x_t - a_t ε̂ - c_t ξ̂)/s_t
        "local_error_d2": s_f(t) * (sp.diff(a_f(t) / s_f(t), t) * sp.diff(eps_f(t), t)
                                    + sp.diff(c_f(t) / s_f(t), t) * sp.diff(xi_f(t), t)),
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    s, a, c = s_f(tau), a_f(tau), c_f(tau)
    sd, ad, cd = _d(s_f), _d(a_f), _d(c_f)
    vel = st["velocity"]
    at_t = {tau: t}
    x0_hat_t = (xt - a_f(t) * eps_hat - c_f(t) * xi_hat) / s_f(t)
    frozen = st["frozen_solution"].subs(x0_hat, x0_hat_t)
    schedule = {s_f: lambda v: sp.sqrt(abar_f(v)), a_f: lambda v: sigma0 * sp.sqrt(1 - abar_f(v)),
                c_f: lambda v: sp.sqrt(1 - abar_f(v)) * psi_f(v)}
    # Variation of constants for time-varying means ε̂(τ), ξ̂(τ) along the exact path.
    g_u = sp.diff(a_f(u) / s_f(u), u) * eps_f(u) + sp.diff(c_f(u) / s_f(u), u) * xi_f(u)
    exact = s * (xt / s_f(t) + sp.Integral(g_u, (u, t, tau)))
    exact_const = exact.replace(eps_f, lambda v: eps_hat).replace(xi_f, lambda v: xi_hat)
    vel_path = vel.subs({eps_hat: eps_f(tau), xi_hat: xi_f(tau)})
    points = {s_f(tau): sp.sqrt(ddim.ab_s), a_f(tau): sigma0 * sp.sqrt(1 - ddim.ab_s), c_f(tau): ddim.c_s,
              s_f(t): sp.sqrt(ddim.ab_t), a_f(t): sigma0 * sp.sqrt(1 - ddim.ab_t), c_f(t): ddim.c_t}
    err = exact - frozen.subs({eps_hat: eps_f(t), xi_hat: xi_f(t)})
    xp = xi_posterior.statements()
    steps = [
        Step("x = s x_0 + a ε + c ξ ⇒ ṡ x_0 + ȧ ε + ċ ξ = velocity at (ε̂, ξ̂) = (ε, ξ) (then take E[·|x])",
             sd * x0 + ad * eps + cd * xi, vel.subs({eps_hat: eps, xi_hat: xi}).subs(x, s * x0 + a * eps + c * xi)),
        Step("η̂-form: with ε̂ = (η̂ - ψ ξ̂)/σ_0, ψ = σ_0 c/a, the velocity is (ṡ/s) x + [η̂-coef] η̂ + [ξ̂-coef] ξ̂",
             vel.subs(eps_hat, xp["eps_hat"].subs(xi_posterior.psi, sigma0 * c / a)),
             sd / s * x + st["velocity_eta_coef"] * eta_hat + st["velocity_xi_coef"] * xi_hat),
        Step("with a = σ_0√(1-ᾱ), c = √(1-ᾱ) ψ: ċ - c ȧ/a = √(1-ᾱ) ψ̇ (no ξ̂-term iff ψ is constant in τ)",
             st["velocity_xi_coef"].replace(a_f, schedule[a_f]).replace(c_f, schedule[c_f]).doit(),
             st["velocity_xi_coef_psi"]),
        Step("affine in η̂: with ξ̂ = μ_ξ + K(η̂ - ψ μ_ξ), velocity = (ṡ/s) x + [gain] η̂ + [offset]",
             (sd / s * x + st["velocity_eta_coef"] * eta_hat + st["velocity_xi_coef"] * xi_hat)
             .subs(xi_hat, xp["xi_hat"].subs(xi_posterior.psi, sigma0 * c / a)),
             sd / s * x + st["velocity_gain"] * eta_hat + st["velocity_offset"]),
        Step("frozen means: d/dτ [s x̂_0 + a ε̂ + c ξ̂] = velocity at that point (ε̂, ξ̂ constant)",
             sp.diff(frozen, tau), vel.subs(x, frozen)),
        Step("frozen means: the solution starts at x(t) = x_t", frozen.subs(at_t), xt),
        Step("at the jump's end (ᾱ(τ) = ᾱ_s, ᾱ(t) = ᾱ_t, c(τ) = c_s, c(t) = c_t) it is result 'ddim''s "
             "deterministic jump: k = a(τ)/a(t) = √((1-ᾱ_s)/(1-ᾱ_t))",
             frozen.subs(points), ddim.jump(ddim.statements()["k_deterministic"], xt, x0_hat_t.subs(points), xi_hat)),
        Step("exact path (variation of constants): s(τ)[x_t/s(t) + ∫_t^τ ((a/s)' ε̂ + (c/s)' ξ̂) du] solves the ODE",
             sp.diff(exact, tau), vel_path.subs(x, exact)),
        Step("... from x(t) = x_t", _at_t(exact), xt),
        Step("means constant along the path: d/dτ [(exact - frozen)/s(τ)] = 0 ...",
             sp.diff((exact_const - frozen) / s, tau), 0),
        Step("... and (exact - frozen)/s = 0 at τ = t, so the exact path is the frozen (DDIM) solution",
             _at_t((exact_const - frozen) / s), 0),
        Step("local error vanishes at τ = t", _at_t(err), 0),
        Step("its first τ-derivative vanishes at τ = t (local error O(h²): first order)",
             _at_t(sp.diff(err, tau)), 0),
        Step("its second τ-derivative at τ = t is s(t)[(a/s)' ε̂' + (c/s)' ξ̂'] (0 when the means do not move)",
             _at_t(sp.diff(err, tau, 2)), st["local_error_d2"]),
    ]
    return run_steps(
        "ddim_ode", "Continuous time: the deterministic DDIM jump integrates the probability-flow ODE",
        ["x(τ) = s(τ) x_0 + a(τ) ε + c(τ) ξ with s = √ᾱ, a = σ_0√(1-ᾱ), c = √(1-ᾱ) ψ differentiable, s, a > 0",
         "the probability-flow ODE of the ξ-marginal process is dx/dτ = E[ṡ x_0 + ȧ ε + ċ ξ | x(τ) = x] "
         "(the marginal-velocity identity of flow matching; taken as given, not proved here)",
         "ε̂ = E[ε|x], ξ̂ = E[ξ|x], η̂ = E[σ_0 ε + ψ ξ | x]; ξ̂ affine in η̂ with gain K (result 'xi_posterior')",
         "ε̂(τ), ξ̂(τ): the conditional means along the exact path, differentiable in τ"],
        st, steps,
        "The probability-flow velocity is (ṡ/s)x + (ȧ - aṡ/s)ε̂ + (ċ - cṡ/s)ξ̂; in the network's terms "
        "(ṡ/s)x + (ȧ - aṡ/s)/σ_0·η̂ + √(1-ᾱ)ψ̇·ξ̂, an affine function of η̂ once ξ̂ = μ_ξ + K(η̂ - ψμ_ξ) is "
        "inserted. Holding ε̂ and ξ̂ at their values at t and solving exactly gives x(τ) = s(τ)x̂_0 + "
        "a(τ)ε̂ + c(τ)ξ̂, which is the deterministic jump of result 'ddim'; it is exact when the conditional "
        "means are constant along the path, and otherwise its local error is O(h²) with leading term "
        "s(t)[(a/s)'ε̂' + (c/s)'ξ̂']·h²/2.",
        t0, notes=["the ξ̂-term of the velocity in η̂-form is √(1-ᾱ)ψ̇ ξ̂: it vanishes for constant ψ (offset noise with constant w)"])
