"""What one deterministic jump t → s does to the variance along a direction, for Gaussian data.

Along a direction shared by Cov(x_0) (eigenvalue λ) and Σ_ξ (eigenvalue N) — the brightness direction
z = 1ᵀx/√n with λ = n Var(L_avg(x_0)), N = n σ_c² — write z_t = w_t · u, u ~ N(0, I_3), with
w_t = (√ᾱ_t √λ, c_t √N, σ_0 √(1-ᾱ_t)), so Var(z_t) = |w_t|² and E[u | z_t] = w_t z_t/|w_t|².  Results:
- the frozen-mean deterministic jump of result 'ddim' maps z_t to g z_t with g = (w_s·w_t)/|w_t|², so it
  multiplies the exact variance |w_s|² by cos²∠(w_t, w_s) ≤ 1 (Lagrange's identity: equality iff parallel);
  a chain of jumps multiplies the factors;
- balanced γ (result 'balanced'), jump T → T-1, ᾱ_{T-1} → 0: c_{T-1} → √α_T and the data-free loss is
  sin² = ρ(1-√α_T)²/((1+ρ)(1+ρα_T)), ρ = N/σ_0² = nσ_c²/σ_0², α_T = 1-β_T; largest, ((1-√α_T)/(1+√α_T))²,
  at ρ = 1/√α_T (cosine, β_T = 0.999: 0.88 at n σ_c² = 31.6 σ_0²; 0.74 at ρ = 256; 0.46 at 1024);
- the whitened jump z_s = √ᾱ_s ẑ_0 + (ν_s/ν_t)(z_t - √ᾱ_t ẑ_0), ν² = σ_0²(1-ᾱ) + c² N, keeps q(z_s | z_0)
  exactly, equals DDIM's k where N = 0 (base), and multiplies the variance by cos² of the angle between the
  2-vectors (√ᾱ√λ, ν) at t and s: NOT exact in general (counterexample below), but free of the turn of w
  between its ξ and ε components;
- closed rank-one forms: for C = a² I + b² m P (P = 1 1ᵀ/m, P² = P), C^{1/2} = a I + (√(a² + m b²) - a) P and
  C^{-1/2} = I/a + (1/√(a² + m b²) - 1/a) P;
- any M first-order deterministic jumps keep at most cos^{2M}(Θ/M) of the variance, Θ the angle between w_T and
  w_0 = (√λ, 0, 0) (≈ π/2 where √ᾱ_T √λ ≪ σ_0): 0.952 at M = 50, so the sd loses ≥ π²/(8M) ≈ 2.4 %.
"""
from __future__ import annotations

import time

import sympy as sp

from . import balanced, ddim
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import K, alpha, abar_prev, sigma0

lam, N, m = sp.symbols("lambda N m", positive=True)
z = sp.Symbol("z", real=True)
rho = sp.Symbol("rho", positive=True)
theta, Theta = sp.symbols("theta Theta", positive=True)
M = sp.Symbol("M", positive=True, integer=True)
P = sp.Symbol("P", positive=True)                       # the group-mean projection, P² = P
a_, b_ = sp.symbols("a b", positive=True)
ab_t, ab_s, c_t, c_s = ddim.ab_t, ddim.ab_s, ddim.c_t, ddim.c_s
ab_r, c_r = sp.Symbol(r"\bar{\alpha}_r", positive=True), sp.Symbol("c_r", real=True)
w = sp.symbols("w1:4", real=True)
v = sp.symbols("v1:4", real=True)


def vec(ab, c):
    return (sp.sqrt(ab) * sp.sqrt(lam), c * sp.sqrt(N), sigma0 * sp.sqrt(1 - ab))


def dot(p, q):
    return sum(pi * qi for pi, qi in zip(p, q))


def nu(ab, c):
    return sp.sqrt(sigma0**2 * (1 - ab) + c**2 * N)


def _mod_P(expr):
    """Reduce a polynomial in P with P² = P."""
    return sp.expand(sp.rem(sp.expand(expr), P**2 - P, P))


def statements() -> dict[str, sp.Expr]:
    wt, ws = vec(ab_t, c_t), vec(ab_s, c_s)
    two_t, two_s = (sp.sqrt(ab_t) * sp.sqrt(lam), nu(ab_t, c_t)), (sp.sqrt(ab_s) * sp.sqrt(lam), nu(ab_s, c_s))
    sa = sp.sqrt(alpha)
    return {
        "gain_frozen": dot(ws, wt) / dot(wt, wt),
        "cos2": dot(ws, wt) ** 2 / (dot(ws, ws) * dot(wt, wt)),
        "lagrange": sum((v[i] * w[j] - v[j] * w[i]) ** 2 for i in range(3) for j in range(i + 1, 3)),
        "c_prev_limit": sa,
        "first_step_sin2_limit": rho * (1 - sa) ** 2 / ((1 + rho) * (1 + rho * alpha)),
        "first_step_rho_star": 1 / sa,
        "first_step_sin2_max": ((1 - sa) / (1 + sa)) ** 2,
        "whitened_gain": (sp.sqrt(ab_s) * sp.sqrt(ab_t) * lam + nu(ab_s, c_s) * nu(ab_t, c_t)) / dot(wt, wt),
        "whitened_cos2": dot(two_s, two_t) ** 2 / (dot(two_s, two_s) * dot(two_t, two_t)),
        "log_cos_curvature": -1 / sp.cos(theta) ** 2,
        "chain_bound": sp.cos(Theta / M) ** (2 * M),
        "sqrt_rank_one": sp.sqrt(a_**2 + m * b_**2) - a_,
        "inv_sqrt_rank_one": 1 / sp.sqrt(a_**2 + m * b_**2) - 1 / a_,
    }


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    wt, ws, wr = vec(ab_t, c_t), vec(ab_s, c_s), vec(ab_r, c_r)
    nt2 = dot(wt, wt)
    x0_hat = sp.sqrt(lam) * wt[0] * z / nt2                 # E[z_0 | z_t] along the direction
    xi_hat = sp.sqrt(N) * wt[1] * z / nt2                   # E[ξ_z | z_t]
    g = st["gain_frozen"]
    cos2_sr = (dot(wr, ws) ** 2 / (dot(wr, wr) * dot(ws, ws)))
    kd = ddim.statements()["k_deterministic"]
    # balanced γ at T and T-1 (ᾱ_T = α_T ᾱ_{T-1}); c_T = 1 (normalised)
    bal_c = balanced.statements()["c"]                      # c_t = K(1-ᾱ_t)/√ᾱ_t, K = √ᾱ_T/(1-ᾱ_T)
    K_T = {K: sp.sqrt(alpha * abar_prev) / (1 - alpha * abar_prev)}       # t = T: ᾱ_T = α_T ᾱ_{T-1}
    c_T_bal = bal_c.subs(K_T)
    c_prev_bal = bal_c.subs(alpha, 1).subs(K_T)               # t = T-1: ᾱ_{T-1} (α → 1), same K
    sin2 = st["first_step_sin2_limit"]
    noise_t, noise_s = (sp.sqrt(N), sigma0), (sp.sqrt(alpha) * sp.sqrt(N), sigma0)
    wh = st["whitened_gain"]
    ex = {lam: 1, N: 0, sigma0: 1, ab_t: sp.Rational(1, 4), ab_s: sp.Rational(1, 2)}
    a_s, b_s, a_t, b_t = sp.symbols("a_s b_s a_t b_t", positive=True)
    A_s, A_t = (a_s + st["sqrt_rank_one"].subs({a_: a_s, b_: b_s}),
                1 / (1 / a_t + st["inv_sqrt_rank_one"].subs({a_: a_t, b_: b_t})))
    sq, isq = a_ + st["sqrt_rank_one"] * P, 1 / a_ + st["inv_sqrt_rank_one"] * P
    steps = [
        Step("frozen means: the deterministic jump of result 'ddim' maps z_t to (w_s·w_t/|w_t|²) z_t",
             ddim.jump(kd, z, x0_hat, xi_hat).subs(c_t, c_t), g * z),
        Step("so Var(z_s) = g²|w_t|² = cos²∠(w_t, w_s) · |w_s|² (the exact variance times cos²)",
             g**2 * nt2, st["cos2"] * dot(ws, ws)),
        Step("Lagrange's identity |v|²|w|² - (v·w)² = Σ_{i<j}(v_i w_j - v_j w_i)² ≥ 0: cos² ≤ 1, = 1 iff v ∥ w",
             dot(v, v) * dot(w, w) - dot(v, w) ** 2, st["lagrange"]),
        Step("a chain t → s → r multiplies the factors: g_sr² g_ts² |w_t|² = cos²(t,s) cos²(s,r) |w_r|²",
             (dot(wr, ws) / dot(ws, ws)) ** 2 * g**2 * nt2, st["cos2"] * cos2_sr * dot(wr, wr)),
        Step("balanced γ is normalised: c_T = 1", c_T_bal, 1),
        Step("balanced γ: c_{T-1} = √ᾱ_T (1-ᾱ_{T-1})/((1-ᾱ_T)√ᾱ_{T-1}) → √α_T as ᾱ_{T-1} → 0",
             sp.limit(c_prev_bal, abar_prev, 0), st["c_prev_limit"]),
        Step("the data-free first-step loss 1 - cos²((√N, σ_0), (√α_T √N, σ_0)) with ρ = N/σ_0²",
             (1 - dot(noise_s, noise_t) ** 2 / (dot(noise_s, noise_s) * dot(noise_t, noise_t))).subs(N, rho * sigma0**2),
             sin2),
        Step("it is 0 at β_T = 0 (α_T = 1)", sin2.subs(alpha, 1), 0),
        Step("its ρ-derivative vanishes at ρ* = 1/√α_T", sp.diff(sin2, rho).subs(rho, st["first_step_rho_star"]), 0),
        Step("its value there is ((1-√α_T)/(1+√α_T))²", sin2.subs(rho, st["first_step_rho_star"]),
             st["first_step_sin2_max"]),
        Step("log cos is concave on [0, π/2): (log cos θ)'' = -1/cos² θ < 0 ...", sp.diff(sp.log(sp.cos(theta)), theta, 2),
             st["log_cos_curvature"]),
        Step("... so by Jensen M jumps whose angles sum to Θ (≥ the angle from w_T to w_0, triangle inequality on the "
             "sphere) keep at most cos^{2M}(Θ/M), reached by equal angles: the equal split's product",
             sp.prod([sp.cos(Theta / M) ** 2] * 3).subs(M, 3), st["chain_bound"].subs(M, 3)),
        Step("whitened jump along the direction: √ᾱ_s ẑ_0 + (ν_s/ν_t)(z_t - √ᾱ_t ẑ_0) = [whitened_gain] z_t",
             sp.sqrt(ab_s) * x0_hat + nu(ab_s, c_s) / nu(ab_t, c_t) * (z - sp.sqrt(ab_t) * x0_hat), wh * z),
        Step("it keeps q(z_s | z_0): the noise ν_t ζ is mapped to ν_s ζ, variance ν_s²",
             (nu(ab_s, c_s) / nu(ab_t, c_t)) ** 2 * nu(ab_t, c_t) ** 2, nu(ab_s, c_s) ** 2),
        Step("its variance factor is cos² of the 2-vectors (√ᾱ√λ, ν) at t and s",
             wh**2 * nt2 / dot(ws, ws), st["whitened_cos2"]),
        Step("N = 0 (base): the whitened factor ν_s/ν_t is DDIM's k = √((1-ᾱ_s)/(1-ᾱ_t))",
             (nu(ab_s, c_s) / nu(ab_t, c_t)).subs(N, 0), kd),
        Step("counterexample to exactness: λ = 1, N = 0, σ_0 = 1, ᾱ_t = 1/4, ᾱ_s = 1/2 loses 1 - cos² = "
             "sin² 15° = 1/2 - √3/4 > 0",
             1 - st["whitened_cos2"].subs(ex), sp.Rational(1, 2) - sp.sqrt(3) / 4),
        Step("rank-one C^{1/2}: (a I + (√(a²+mb²) - a) P)² = a² I + m b² P (P² = P)",
             _mod_P(sq**2), a_**2 + m * b_**2 * P),
        Step("rank-one C^{-1/2}: (I/a + (1/√(a²+mb²) - 1/a) P)(a I + (√(a²+mb²) - a) P) = I",
             _mod_P(sq * isq), 1),
        Step("C_s^{1/2} C_t^{-1/2} = k_⊥ I + (k_∥ - k_⊥) P with k_⊥ = a_s/a_t, k_∥ = √(a_s²+mb_s²)/√(a_t²+mb_t²)",
             _mod_P((a_s + (A_s - a_s) * P) * (1 / a_t + (1 / A_t - 1 / a_t) * P)),
             a_s / a_t + (A_s / A_t - a_s / a_t) * P),
    ]
    return run_steps(
        "jump_variance", "One deterministic jump for Gaussian data: the cos² variance factor, and the whitened jump",
        ["x_0 Gaussian; a direction shared by Cov(x_0) (eigenvalue λ) and Σ_ξ (eigenvalue N), e.g. brightness",
         "z_t = √ᾱ_t z_0 + c_t ξ_z + σ_0 √(1-ᾱ_t) ε, the conditional means exact (E[u|z_t] = w_t z_t/|w_t|²)",
         "balanced γ of result 'balanced' (c_T = 1); the limit ᾱ_{T-1} → 0 with α_T = 1 - β_T fixed",
         "P = 1 1ᵀ/m is the group-mean projection (P² = P) of the brightness / per_channel families"],
        st, steps,
        "Along a direction, the frozen-mean deterministic jump multiplies the exact variance by cos² of the angle "
        "between w_t = (√ᾱ_t√λ, c_t√N, σ_0√(1-ᾱ_t)) and w_s (≤ 1, = 1 iff parallel), and a chain multiplies "
        "the factors. With balanced γ the jump T → T-1 turns w from its ξ axis to its ε axis: for ᾱ_{T-1} → 0 "
        "the loss is ρ(1-√α_T)²/((1+ρ)(1+ρα_T)), ρ = nσ_c²/σ_0², largest ((1-√α_T)/(1+√α_T))² at ρ = 1/√α_T "
        "(β_T = 0.999: 0.88; 0.74 at ρ = 256, 0.46 at 1024; β_T = 0.02: < 10⁻⁴). The whitened jump keeps q(z_s|z_0), "
        "is DDIM's jump for base and has the variance factor of the 2-vectors (√ᾱ√λ, ν): not exact, but without "
        "the ξ-to-ε turn. C^{±1/2} of the rank-one families are a I + b P in closed form.",
        t0, notes=["the whitened factor equals base DDIM's on the schedule with noise std ν_t: the angle of the SNR, "
                   "which a finer grid resolves; the frozen-mean factor also carries the ξ-to-ε turn, which no "
                   "integer grid resolves where it happens inside one forward step"])
