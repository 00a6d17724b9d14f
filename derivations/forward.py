"""Forward marginal q(x_t | x_0, ξ) of the generalized model [2412.03134 §3.1].

Definition: q(x_t | x_{t-1}, ξ) = N(√α_t (x_{t-1} + γ_t ξ), β_t σ_0² I).
Results: mean √ᾱ_t x_0 + c_t ξ with c_t = √α_t (c_{t-1} + γ_t), c_0 = 0, i.e.
c_t = √ᾱ_t Σ_{s≤t} γ_s / √ᾱ_{s-1}; variance σ_0² (1 - ᾱ_t); and ψ_t = c_t / √(1 - ᾱ_t) from the
form x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ).
"""
from __future__ import annotations

import time

import sympy as sp

from .core import Perturb, Step, apply_perturb, require_horizon, require_positive, run_steps
from .symbols import ABAR, BETA, abar_prev, alpha, c_prev, gamma, indexed, sigma0, x0, xi

psi_sym = sp.Symbol("psi_t", real=True)


def statements() -> dict[str, sp.Expr]:
    """The proved forms (general t, in terms of α_t, ᾱ_{t-1}, γ_t, c_{t-1}, σ_0)."""
    c_t = sp.sqrt(alpha) * (c_prev + gamma)
    return {
        "mean_x0": sp.sqrt(ABAR),                 # coefficient of x_0 in E[x_t | x_0, ξ]
        "c": c_t,                                 # coefficient c_t of ξ in E[x_t | x_0, ξ]
        "var": sigma0**2 * (1 - ABAR),            # Var[x_t | x_0, ξ] per component
        "psi": c_t / sp.sqrt(1 - ABAR),           # ψ_t
        "c_sum_term": gamma / sp.sqrt(abar_prev), # c_t = √ᾱ_t Σ_{s≤t} (this term at s)
    }


def step_forward(mean_x0, mean_xi, var, a, g, s0):
    """One forward step applied to N(mean_x0 x_0 + mean_xi ξ, var): the definition, nothing more."""
    return sp.sqrt(a) * mean_x0, sp.sqrt(a) * (mean_xi + g), a * var + (1 - a) * s0**2


def unroll(T: int, sigma=sigma0):
    """Unroll the forward chain for concrete T with symbolic α_1..α_T, γ_1..γ_T.

    Returns (alphas, gammas, [(mean_x0, c, var) for t = 1..T]).
    """
    require_horizon(T)
    require_positive(sigma)
    al = indexed("alpha", T, positive=True)
    ga = indexed("gamma", T, positive=True)
    m, c, v = sp.Integer(1), sp.Integer(0), sp.Integer(0)     # t = 0: x_0 itself
    out = []
    for t in range(T):
        m, c, v = step_forward(m, c, v, al[t], ga[t], sigma)
        out.append((m, c, v))
    return al, ga, out


def c_closed_unrolled(al, ga, t, term=None):
    """c_t = √ᾱ_t Σ_{s≤t} γ_s / √ᾱ_{s-1} for concrete index t (1-based)."""
    term = statements()["c_sum_term"] if term is None else term
    abar = lambda k: sp.Mul(*al[:k]) if k else sp.Integer(1)  # noqa: E731
    return sp.sqrt(abar(t)) * sp.Add(*[term.subs({gamma: ga[s - 1], abar_prev: abar(s - 1)})
                                       for s in range(1, t + 1)])


def derive(T_unroll: int = 6, perturb: Perturb | None = None):
    t0 = time.perf_counter()
    require_horizon(T_unroll)
    st = apply_perturb(statements(), perturb)
    steps: list[Step] = []
    # Base case t = 1 (ᾱ_0 = 1, c_0 = 0, x_0 deterministic).
    m1, c1, v1 = step_forward(1, 0, 0, alpha, gamma, sigma0)
    base = {abar_prev: 1, c_prev: 0}
    steps += [Step("base: mean coefficient of x_0 at t=1", m1, st["mean_x0"].subs(base)),
              Step("base: ξ-coefficient at t=1", c1, st["c"].subs(base)),
              Step("base: variance at t=1", v1, st["var"].subs(base))]
    # Inductive step: x_{t-1} ~ N(√ᾱ_{t-1} x_0 + c_{t-1} ξ, σ0²(1-ᾱ_{t-1})).
    mt, ct, vt = step_forward(sp.sqrt(abar_prev), c_prev, sigma0**2 * (1 - abar_prev),
                              alpha, gamma, sigma0)
    steps += [Step("induction: mean coefficient of x_0", mt, st["mean_x0"]),
              Step("induction: ξ-coefficient c_t", ct, st["c"]),
              Step("induction: variance", vt, st["var"])]
    # Closed form of c_t: the partial sum S_t = c_t/√ᾱ_t satisfies S_t = S_{t-1} + γ_t/√ᾱ_{t-1}.
    S_prev = c_prev / sp.sqrt(abar_prev)
    steps.append(Step("induction: c_t = √ᾱ_t Σ γ_s/√ᾱ_{s-1}",
                      sp.sqrt(ABAR) * (S_prev + st["c_sum_term"]), st["c"]))
    # ψ_t from x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ0 ε + ψ_t ξ): match the ξ-coefficient.
    psi_solved = sp.solve(sp.Eq(sp.sqrt(1 - ABAR) * psi_sym, st["c"]), psi_sym)[0]
    steps.append(Step("ψ_t solves √(1-ᾱ_t) ψ_t = c_t", psi_solved, st["psi"]))
    # Explicit unrolling with fully symbolic α_1..α_T, γ_1..γ_T.
    al, ga, chain = unroll(T_unroll)
    c_prev_val, abar_prev_val = sp.Integer(0), sp.Integer(1)
    for t, (m, c, v) in enumerate(chain, start=1):
        sub = {alpha: al[t - 1], gamma: ga[t - 1], abar_prev: abar_prev_val, c_prev: c_prev_val}
        steps += [Step(f"unrolled T={t}: mean coefficient of x_0", m, st["mean_x0"].subs(sub)),
                  Step(f"unrolled T={t}: c_{t}", c, st["c"].subs(sub)),
                  Step(f"unrolled T={t}: c_{t} closed form", c, c_closed_unrolled(al, ga, t, st["c_sum_term"])),
                  Step(f"unrolled T={t}: variance", v, st["var"].subs(sub))]
        c_prev_val, abar_prev_val = c, abar_prev_val * al[t - 1]
    return run_steps(
        "forward", "Forward marginal q(x_t | x_0, ξ)",
        ["q(x_t | x_{t-1}, ξ) = N(√α_t (x_{t-1} + γ_t ξ), β_t σ_0² I), 0 < α_t < 1",
         "ᾱ_0 = 1, c_0 = 0; α_t, ᾱ_{t-1}, γ_t, σ_0 > 0",
         f"induction on t, cross-checked by explicit unrolling for T ≤ {T_unroll}"],
        st, steps,
        "x_t keeps √ᾱ_t of the data and carries c_t ξ of the offset; the isotropic noise has the "
        "same variance as in DDPM. ψ_t is the weight of ξ in the noise a trainer adds to the input.",
        t0)
