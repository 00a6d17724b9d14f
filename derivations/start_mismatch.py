"""The start mismatch of the brightness coordinate, and how each sampler carries it to x_0.

Brightness coordinate z = 1ᵀx/√n = √n·L_avg(x) (per channel with n = H·W).  With λ = n·Var(L_avg(x_0)),
N = n σ_c² (ξ = σ_c ζ 1, the brightness family) and w_t = (√ᾱ_t √λ, c_t √N, σ_0 √(1-ᾱ_t)), the forward
process gives z_t = w_t·(g_1, g_2, g_3) in law with g ~ N(0, I_3), so Var z_t = |w_t|².

(a) Start against forward at t = T (ratio ρ = |w_T|²/Var_start, KL(q(z_T) ‖ p(z_T)) = (ρ - 1 - log ρ + d²)/2):
    base      start σ_0²          ρ = 1 + ᾱ_T(λ - σ_0²)/σ_0² = 1 + r - ᾱ_T, r = n ᾱ_T V/σ_0²  → ∞ like n
    offset-w  start σ_0²          ρ = (ᾱ_T λ + (1-ᾱ_T)(σ_0² + w² N))/σ_0²                    → ∞ like n
    proposed  start σ_0² + N      ρ = 1 + ᾱ_T(λ - σ_0²)/(σ_0² + N) → 1 + ᾱ_T V/σ_c²   (bounded)
    zero-snr  ᾱ_T = 0             ρ = 1 for every n
    leak      start = |w_T|²      ρ = 1 for every n (part c)
(b) Gaussian data (1 an eigenvector of Cov x_0), exact conditional means E[z_0|z_t] = g_0 z_t,
    E[z_ξ|z_t] = g_ξ z_t: the deterministic jump t → s is z_s = J z_t with J = w_s·w_t/|w_t|², so it keeps
    cos²∠(w_t, w_s) ≤ 1 (Cauchy–Schwarz, via Lagrange's identity) of Var/|w|²; a start of variance S_0
    scales every later variance by S_0/|w_T|²; K jumps give Var_gen(L_avg)/Var_data(L_avg) =
    (S_0/|w_T|²) ∏ cos²∠(w_{t_i}, w_{t_{i+1}}) (w_0 = (√λ, 0, 0)).  The ancestral step: V_{t-1} = J_t² V_t + σ_t²,
    J_t = B_t + A_t g_0 + C_t g_ξ, unrolled V_0 = (∏_t J_t²) S_0 + Σ_{t≥2} σ_t² ∏_{u<t} J_u².
(c) Signal-leak start x_T = √ᾱ_T u 1 + c_T ξ + σ_0 √(1-ᾱ_T) ε, u ~ N(m, v) per channel: z_T has mean
    √ᾱ_T √n m and variance ᾱ_T n v + c_T² N + σ_0²(1-ᾱ_T), the forward law's when (m, v) are the data's
    per-channel brightness mean and variance: ρ = 1, KL = 0 for every n.
(d) The few-step defaults of gendiff.samplers on z (N_s = n σ_c² of the sampler's q(ξ), 0 for dirac;
    C_t = σ_0²(1-ᾱ_t) + c_t² N_s, the variance of the noise-and-ξ part of z_t along 1, an eigenvector of Σ_ξ):
    the whitened jump is z_s = (√ᾱ_s g_0 + √(C_s/C_t)(1 - √ᾱ_t g_0)) z_t, with exact gains (N_s = N)
    J = (√(ᾱ_s ᾱ_t) λ + √(C_s C_t))/|w_t|²; at N_s = 0 it is DDIM's jump with ξ̂ = 0.  DPM-Solver++(2M) on the
    whitened flow extrapolates x̂_0 with weight ω = h/(2h'), h = ℓ_s - ℓ_t, h' = ℓ_t - ℓ_p, ℓ = (log ᾱ - log C)/2:
    z_s = a z_t + b z_p, a = k + (√ᾱ_s - k√ᾱ_t)(1+ω) g_0(t), b = -(√ᾱ_s - k√ᾱ_t) ω g_0(p), k = √(C_s/C_t),
    a linear recursion in (z_t, z_p); ω = 0 (first jump, last jump to s = 0) gives the whitened jump.
(e) The samplers' refusal threshold (gendiff.starts.check_prior_start, tolerance τ): base's ρ(n) increases in n
    (dρ/dn = ᾱ_T V/σ_0² > 0) and reaches 1 + τ at n_max = σ_0²(τ + ᾱ_T)/(ᾱ_T V), so ρ ≤ 1 + τ exactly for
    n ≤ n_max: a statement about ᾱ_T = ∏(1-β_t) and n.  The proposed ρ(n) increases too and stays below its
    limit (lim - ρ = ᾱ_T σ_0²(V + σ_c²)/(σ_c²(σ_0² + nσ_c²)) > 0), so it never exceeds 1 + τ where ᾱ_T V/σ_c² ≤ τ;
    and ρ - (1 - ᾱ_T) = ᾱ_T(λ + N)/(σ_0² + N) ≥ 0 (base: N = 0), so neither falls below 1/(1 + τ) where
    ᾱ_T ≤ τ/(1 + τ).
    With the prior start, deterministic jumps give Var_gen/Var_data = (S_0/|w_T|²) ∏ cos² ≤ 1/ρ (part b), for
    every grid.
"""
from __future__ import annotations

import time

import sympy as sp

from . import brightness, ddim
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import abar_T, indexed, n, sigma0, sigma_c

lam, Nx, V = sp.symbols("lambda N V", positive=True)         # λ = nV, N = nσ_c², V = Var L_avg(x_0)
w_off = sp.Symbol("w", positive=True)                        # constant offset weight
c_T = sp.Symbol("c_T", real=True)
rho, d2, r = sp.symbols("rho d^2 r", positive=True)          # variance ratio, squared mean shift/Var_p, r
q_snr = sp.Symbol("q", positive=True)                      # 1/SNR at T, to encode 0 < ᾱ_T < 1
S0, Vt = sp.symbols("S_0 V_t", positive=True)                # start variance, variance at t
ab_t, ab_s, c_t, c_s = ddim.ab_t, ddim.ab_s, ddim.c_t, ddim.c_s
g0, gxi, kk = sp.symbols("g_0 g_xi k", real=True)            # gains E[z_0|z_t] = g0 z_t, E[z_ξ|z_t] = gξ z_t
s2 = sp.Symbol("sigma_t^2", real=True)
m, v = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)   # fitted brightness mean and variance
z, zeta = sp.symbols("z zeta", real=True)
Ns = sp.Symbol("N_s", nonnegative=True)                      # n σ_c² of the sampler's q(ξ) (whitened jump)
ab_p = sp.Symbol(r"\bar{\alpha}_p", positive=True)            # ᾱ at the previous grid step p > t
c_p = sp.Symbol("c_p", real=True)
om, g0p, zp = sp.symbols("omega g_0p z_p", real=True)         # 2M weight, gain at p, z at p
tau = sp.Symbol("tau", positive=True)                        # refusal tolerance: ρ ≤ 1 + τ


def cvar(ab, c):
    """C = σ_0²(1-ᾱ) + c² N_s: the variance of the noise-and-ξ part of z along 1."""
    return sigma0**2 * (1 - ab) + c**2 * Ns


def ell(ab, c):
    """ℓ = (log ᾱ - log C)/2: the whitened log-SNR along 1."""
    return (sp.log(ab) - sp.log(cvar(ab, c))) / 2


def wvec(ab, c):
    return sp.Matrix([sp.sqrt(ab) * sp.sqrt(lam), c * sp.sqrt(Nx), sigma0 * sp.sqrt(1 - ab)])


def dot(a, b):
    return (a.T * b)[0, 0]


def statements() -> dict[str, sp.Expr]:
    wsq_t = ab_t * lam + c_t**2 * Nx + sigma0**2 * (1 - ab_t)
    wsq_s = ab_s * lam + c_s**2 * Nx + sigma0**2 * (1 - ab_s)
    wdot = sp.sqrt(ab_s) * sp.sqrt(ab_t) * lam + c_s * c_t * Nx + sigma0**2 * sp.sqrt(1 - ab_s) * sp.sqrt(1 - ab_t)
    oms, omt = 1 - ab_s, 1 - ab_t
    return {
        # (a)
        "var_forward": abar_T * lam + c_T**2 * Nx + sigma0**2 * (1 - abar_T),
        "start_base": sigma0**2, "start_offset": sigma0**2, "start_proposed": sigma0**2 + Nx,
        "start_zero_snr": sigma0**2,
        "ratio_base": 1 + abar_T * (lam - sigma0**2) / sigma0**2,
        "ratio_base_r": 1 + r - abar_T,
        "ratio_offset": (abar_T * lam + (1 - abar_T) * (sigma0**2 + w_off**2 * Nx)) / sigma0**2,
        "ratio_proposed": 1 + abar_T * (lam - sigma0**2) / (sigma0**2 + Nx),
        "kl": (rho - 1 - sp.log(rho) + d2) / 2,
        "slope_base": abar_T * V / sigma0**2,
        "slope_offset": (abar_T * V + (1 - abar_T) * w_off**2 * sigma_c**2) / sigma0**2,
        "lim_ratio_proposed": 1 + abar_T * V / sigma_c**2,
        "lim_kl_proposed": (abar_T * V / sigma_c**2 - sp.log(1 + abar_T * V / sigma_c**2)) / 2,
        # (e)
        "n_max_base": sigma0**2 * (tau + abar_T) / (abar_T * V),
        "dratio_proposed_dn": abar_T * sigma0**2 * (V + sigma_c**2) / (sigma0**2 + n * sigma_c**2)**2,
        "gap_proposed": abar_T * sigma0**2 * (V + sigma_c**2) / (sigma_c**2 * (sigma0**2 + n * sigma_c**2)),
        "floor_gap": abar_T * (lam + Nx) / (sigma0**2 + Nx),
        "det_bound": 1 / rho,
        # (b)
        "wsq": wsq_t,
        "gain_x0": sp.sqrt(ab_t) * lam / wsq_t,
        "gain_xi": c_t * Nx / wsq_t,
        "jump_gains": sp.sqrt(ab_s) * g0 + c_s * gxi + kk * (1 - sp.sqrt(ab_t) * g0 - c_t * gxi),
        "jump_factor": wdot / wsq_t,
        "kept": wdot**2 / (wsq_s * wsq_t),
        "cs_gap": (sp.sqrt(ab_s) * sp.sqrt(lam) * c_t * sp.sqrt(Nx) - c_s * sp.sqrt(Nx) * sp.sqrt(ab_t) * sp.sqrt(lam))**2
        + (sp.sqrt(ab_s) * sp.sqrt(lam) * sigma0 * sp.sqrt(omt) - sigma0 * sp.sqrt(oms) * sp.sqrt(ab_t) * sp.sqrt(lam))**2
        + (c_s * sp.sqrt(Nx) * sigma0 * sp.sqrt(omt) - sigma0 * sp.sqrt(oms) * c_t * sp.sqrt(Nx))**2,
        "start_scaling": S0 / wsq_t,
        "anc_factor": (sp.sqrt(ab_s) * sp.sqrt(ab_t) * lam + c_s * c_t * Nx
                       + sigma0**2 * sp.sqrt(ab_t / ab_s) * (1 - ab_s)) / wsq_t,
        "step_var": kk**2 * Vt + s2,
        # (c)
        "leak_noise_var": sigma0**2 * (1 - abar_T),
        "leak_mean": sp.sqrt(abar_T) * sp.sqrt(n) * m,
        "leak_var": abar_T * n * v + c_T**2 * Nx + sigma0**2 * (1 - abar_T),
        # (d)
        "w_cov": sigma0**2 * (1 - ab_t) + c_t**2 * Ns,
        "whitened_gains": sp.sqrt(ab_s) * g0 + sp.sqrt(cvar(ab_s, c_s)) / sp.sqrt(cvar(ab_t, c_t)) * (1 - sp.sqrt(ab_t) * g0),
        "whitened_factor": (sp.sqrt(ab_s) * sp.sqrt(ab_t) * lam
                            + sp.sqrt(cvar(ab_s, c_s).subs(Ns, Nx)) * sp.sqrt(cvar(ab_t, c_t).subs(Ns, Nx))) / wsq_t,
        "w2m_weight": (ell(ab_s, c_s) - ell(ab_t, c_t)) / (2 * (ell(ab_t, c_t) - ell(ab_p, c_p))),
        "w2m_zt": kk + (sp.sqrt(ab_s) - kk * sp.sqrt(ab_t)) * (1 + om) * g0,
        "w2m_zp": -(sp.sqrt(ab_s) - kk * sp.sqrt(ab_t)) * om * g0p,
    }


def _quad(M):
    """1ᵀ M 1 / n: the variance of z = 1ᵀx/√n for Cov x = M (general n)."""
    one = sp.OneMatrix(n, 1)
    return sp.expand((one.T * M * one).doit()).as_explicit()[0, 0] / n


def _moment2(e):
    """E[e²] for e linear in independent z (E z² = V_t) and ζ (E ζ² = 1), both of mean 0."""
    poly = sp.Poly(sp.expand(e**2), z, zeta)
    return poly.coeff_monomial(z**2) * Vt + poly.coeff_monomial(zeta**2) + poly.coeff_monomial(z * zeta) * 0


def _kl_by_expectation(vq, vp, delta):
    """E_q[log q(z) - log p(z)] for q = N(δ, vq), p = N(0, vp), using E z = δ, E z² = vq + δ²."""
    from .symbols import log_normal
    e = sp.expand(log_normal(z, delta, vq) - log_normal(z, 0, vp))
    poly = sp.Poly(e, z)
    out = poly.coeff_monomial(z**2) * (vq + delta**2) + poly.coeff_monomial(z) * delta + poly.coeff_monomial(1)
    return sp.expand_log(sp.expand(out), force=True)


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    I, J1 = sp.Identity(n), sp.OneMatrix(n, n)
    fv = st["var_forward"]
    on_n = {lam: n * V, Nx: n * sigma_c**2}
    kl = lambda ratio, dd=0: st["kl"].subs({rho: ratio, d2: dd})  # noqa: E731
    # (c) the signal-leak start
    zeta_u = sp.Symbol("zeta_u", real=True)
    zT_leak = sp.sqrt(abar_T) * (m + sp.sqrt(v) * zeta_u) * sp.sqrt(n)        # z of √ᾱ_T u 1, u = m + √v ζ
    steps = [
        Step("leak: E z_T = √ᾱ_T √n m (u ~ N(m, v); ξ and ε have mean 0)", zT_leak.subs(zeta_u, 0), st["leak_mean"]),
        Step("leak: Var z_T = ᾱ_T v 1ᵀ(1 1ᵀ)1/n + 1ᵀ(c_T² σ_c² 1 1ᵀ + noise var·I)1/n",
             abar_T * v * _quad(J1) + _quad(c_T**2 * sigma_c**2 * J1 + st["leak_noise_var"] * I),
             st["leak_var"].subs(Nx, n * sigma_c**2)),
        Step("leak matches the forward mean √ᾱ_T √n E[L_avg(x_0)] at m = E[L_avg(x_0)]",
             st["leak_mean"], sp.sqrt(abar_T) * sp.sqrt(n) * m),
        Step("leak matches the forward variance at v = Var L_avg(x_0) = V (λ = nV)", st["leak_var"].subs(v, V),
             fv.subs(lam, n * V)),
        Step("leak for base (c_T = 0): ρ = 1 and KL = 0 for every n",
             kl(fv.subs({lam: n * V, c_T: 0}) / st["leak_var"].subs({v: V, c_T: 0})), 0),
    ]
    steps += [
        # (a) forward and start variances of z_T
        Step("forward: Var z_T = 1ᵀ(ᾱ_T Cov x_0 + c_T² σ_c² 1 1ᵀ + σ_0²(1-ᾱ_T) I)1/n, 1ᵀ Cov x_0 1/n = λ",
             abar_T * lam + _quad(c_T**2 * sigma_c**2 * J1 + sigma0**2 * (1 - abar_T) * I), fv.subs(Nx, n * sigma_c**2)),
        Step("forward, second route: n·Var L_avg(x_T) of result 'brightness'",
             n * brightness.statements()["var_forward"].subs({brightness.V0: V, brightness.c_T: c_T}), fv.subs(on_n)),
        Step("base start N(0, σ_0² I): Var z_T", _quad(sigma0**2 * I), st["start_base"]),
        Step("offset start N(0, σ_0² I): Var z_T", _quad(sigma0**2 * I), st["start_offset"]),
        Step("zero-snr start N(0, σ_0² I): Var z_T", _quad(sigma0**2 * I), st["start_zero_snr"]),
        Step("proposed start N(ξ, σ_0² I), ξ = σ_c ζ 1: Var z_T", _quad(sigma0**2 * I + sigma_c**2 * J1),
             st["start_proposed"].subs(Nx, n * sigma_c**2)),
        Step("base (c_T = 0): ρ = |w_T|²/σ_0²", st["ratio_base"], fv.subs(c_T, 0) / st["start_base"]),
        Step("base in r = n ᾱ_T V/σ_0²: ρ = 1 + r - ᾱ_T", st["ratio_base"].subs(lam, n * V),
             st["ratio_base_r"].subs(r, n * abar_T * V / sigma0**2)),
        Step("offset (c_T = w√(1-ᾱ_T), result 'forward'): ρ", st["ratio_offset"],
             fv.subs(c_T, w_off * sp.sqrt(1 - abar_T)) / st["start_offset"]),
        Step("proposed (balanced: c_T = 1): ρ", st["ratio_proposed"], fv.subs(c_T, 1) / st["start_proposed"]),
        Step("zero terminal SNR (ᾱ_T = 0, c = 0): ρ = 1", fv.subs({abar_T: 0, c_T: 0}) / st["start_zero_snr"], 1),
        Step("KL(N(δ, v_q) ‖ N(0, v_p)) by expectation of the log-density ratio",
             _kl_by_expectation(rho * S0, S0, sp.sqrt(d2 * S0)), sp.expand_log(st["kl"], force=True)),
        Step("KL = 0 at ρ = 1, d = 0", kl(1), 0),
        Step("dKL/dρ = 0 at ρ = 1 (its minimum; d²KL/dρ² = 1/(2ρ²) > 0)", sp.diff(st["kl"], rho).subs(rho, 1), 0),
        Step("n → ∞: base ρ → ∞", sp.limit(st["ratio_base"].subs(lam, n * V), n, sp.oo), sp.oo),
        Step("n → ∞: base ρ/n → ᾱ_T V/σ_0²", sp.limit(st["ratio_base"].subs(lam, n * V) / n, n, sp.oo),
             st["slope_base"]),
        Step("n → ∞: base KL → ∞", sp.limit(kl(st["ratio_base"].subs(lam, n * V)), n, sp.oo), sp.oo),
        Step("n → ∞: offset ρ/n → (ᾱ_T V + (1-ᾱ_T) w² σ_c²)/σ_0²",
             sp.limit(st["ratio_offset"].subs(on_n) / n, n, sp.oo), st["slope_offset"]),
        Step("n → ∞: offset ρ → ∞ (ᾱ_T = 1/(1+q), q > 0: 0 < ᾱ_T < 1)",
             sp.limit(st["ratio_offset"].subs(on_n).subs(abar_T, 1 / (1 + q_snr)), n, sp.oo), sp.oo),
        Step("n → ∞: proposed ρ → 1 + ᾱ_T V/σ_c² (bounded)", sp.limit(st["ratio_proposed"].subs(on_n), n, sp.oo),
             st["lim_ratio_proposed"]),
        Step("n → ∞: proposed KL → its bounded limit", kl(st["lim_ratio_proposed"]), st["lim_kl_proposed"]),
    ]
    # (e) the refusal threshold
    rb_n, rp_n = st["ratio_base"].subs(lam, n * V), st["ratio_proposed"].subs(on_n)
    sol = sp.solve(sp.Eq(rb_n, 1 + tau), n)
    steps += [
        Step("base: ρ(n) = 1 + τ has the one root n_max", sol[0] if len(sol) == 1 else sp.nan, st["n_max_base"]),
        Step("base: dρ/dn = ᾱ_T V/σ_0² > 0 (ρ increases: ρ ≤ 1 + τ ⇔ n ≤ n_max)", sp.diff(rb_n, n), st["slope_base"]),
        Step("proposed: dρ/dn = ᾱ_T σ_0²(V + σ_c²)/(σ_0² + nσ_c²)² > 0", sp.diff(rp_n, n), st["dratio_proposed_dn"]),
        Step("proposed: lim - ρ(n) = ᾱ_T σ_0²(V + σ_c²)/(σ_c²(σ_0² + nσ_c²)) > 0 (ρ below its limit for every n)",
             st["lim_ratio_proposed"] - rp_n, st["gap_proposed"]),
        Step("proposed: ρ - (1 - ᾱ_T) = ᾱ_T(λ + N)/(σ_0² + N) ≥ 0 (ρ ≥ 1 - ᾱ_T for every n)",
             st["ratio_proposed"] - (1 - abar_T), st["floor_gap"]),
        Step("base (N = 0): ρ - (1 - ᾱ_T) = ᾱ_T λ/σ_0² ≥ 0", st["ratio_base"] - (1 - abar_T),
             st["floor_gap"].subs(Nx, 0)),
        Step("prior start, ρ = |w_T|²/S_0: S_0/|w_T|² = 1/ρ, the bound on Var_gen/Var_data of every deterministic "
             "grid (product form, ∏ cos² ≤ 1)", st["start_scaling"].subs(S0, st["wsq"] / rho), st["det_bound"]),
    ]
    # (b) jumps
    wt, ws = wvec(ab_t, c_t), wvec(ab_s, c_s)
    gz0, gzx = st["gain_x0"], st["gain_xi"]
    Jd = st["jump_gains"].subs({g0: gz0, gxi: gzx, kk: ddim.statements()["k_deterministic"]})
    steps += [
        Step("|w_t|² = Var z_t (the forward variance at t)", dot(wt, wt), st["wsq"]),
        Step("E[z_0|z_t] gain = Cov(z_0, z_t)/Var z_t = √ᾱ_t λ/|w_t|²", sp.sqrt(ab_t) * lam / dot(wt, wt), gz0),
        Step("E[z_ξ|z_t] gain = c_t N/|w_t|²", c_t * Nx / dot(wt, wt), gzx),
        Step("the sampler's jump x_s = √ᾱ_s x̂_0 + c_s ξ̂ + k(x_t - √ᾱ_t x̂_0 - c_t ξ̂) on z",
             sp.sqrt(ab_s) * g0 * z + c_s * gxi * z + kk * (z - sp.sqrt(ab_t) * g0 * z - c_t * gxi * z),
             st["jump_gains"] * z),
        Step("deterministic jump (k of result 'ddim'), exact gains: J = w_s·w_t/|w_t|²", Jd, st["jump_factor"]),
        Step("... = w_s·w_t/|w_t|² by vectors", st["jump_factor"], dot(ws, wt) / dot(wt, wt)),
        Step("the jump keeps cos²∠(w_t, w_s): J²|w_t|²/|w_s|²", st["jump_factor"]**2 * st["wsq"] / st["wsq"].subs(
            {ab_t: ab_s, c_t: c_s}), st["kept"]),
        Step("Lagrange's identity: |w_s|²|w_t|² - (w_s·w_t)² = Σ_{i<j}(w_s,i w_t,j - w_s,j w_t,i)² ≥ 0 (Cauchy–Schwarz)",
             dot(ws, ws) * dot(wt, wt) - dot(ws, wt)**2, st["cs_gap"]),
        Step("cos² = 1 - gap/(|w_s|²|w_t|²) ≤ 1", st["kept"], 1 - st["cs_gap"] / (dot(ws, ws) * dot(wt, wt))),
        Step("offset (c = w√(1-ᾱ), ξ̂ = 0, as its sampler runs): J is the exact-ξ̂ jump factor",
             st["jump_gains"].subs({g0: gz0, gxi: 0, kk: ddim.statements()["k_deterministic"]}).subs(
                 {c_t: w_off * sp.sqrt(1 - ab_t), c_s: w_off * sp.sqrt(1 - ab_s)}),
             st["jump_factor"].subs({c_t: w_off * sp.sqrt(1 - ab_t), c_s: w_off * sp.sqrt(1 - ab_s)})),
        Step("z_s = J z_t is linear: a start of variance S_0 over the exact start |w_t|² scales Var z_s by S_0/|w_t|²",
             kk**2 * S0 / (kk**2 * st["wsq"]), st["start_scaling"]),
        Step("start of variance S_0: Var z_s = J² S_0 = (S_0/|w_t|²)·cos²·|w_s|²", st["jump_factor"]**2 * S0,
             st["start_scaling"] * st["kept"] * st["wsq"].subs({ab_t: ab_s, c_t: c_s})),
        Step("variance of k z + σ ζ (ζ ~ N(0, 1) independent of z): E z² = V_t, E zζ = 0, E ζ² = 1",
             _moment2(kk * z + sp.sqrt(s2) * zeta), st["step_var"]),
        Step("ancestral (η = 1, k of result 'ddim') closed form", st["jump_gains"].subs(
            {g0: gz0, gxi: gzx, kk: ddim.statements()["k_ancestral"]}), st["anc_factor"]),
        Step("t = 0: |w_0|² = λ = Var_data z (ᾱ_0 = 1, c_0 = 0); Var L_avg = Var z/n cancels in the ratio",
             st["wsq"].subs({ab_t: 1, c_t: 0}), lam),
    ]
    # (d) the whitened jump and DPM-Solver++(2M) on the whitened flow
    kw = sp.sqrt(cvar(ab_s, c_s)) / sp.sqrt(cvar(ab_t, c_t))
    lam_dpm = lambda ab: sp.log(sp.sqrt(ab) / (sigma0 * sp.sqrt(1 - ab)))  # noqa: E731  DPM-Solver's λ
    D = g0 * z + om * (g0 * z - g0p * zp)                                      # D = x̂_0 + ω(x̂_0 - x̂_0') on z
    w2m = sp.expand(sp.sqrt(ab_s) * D + kk * (z - sp.sqrt(ab_t) * D))
    Cw = lambda ab, c: st["w_cov"].subs({ab_t: ab, c_t: c}, simultaneous=True)  # noqa: E731  C of statement w_cov
    lw = lambda ab, c: sp.log(sp.sqrt(ab) / sp.sqrt(Cw(ab, c)))                 # noqa: E731  log(signal/noise sd)
    steps += [
        Step("the whitened factor along 1 is √(C_s/C_t), C of statement w_cov",
             st["whitened_gains"], sp.sqrt(ab_s) * g0 + sp.sqrt(Cw(ab_s, c_s)) / sp.sqrt(Cw(ab_t, c_t))
             * (1 - sp.sqrt(ab_t) * g0)),
        Step("2M weight: DPM-Solver++'s h/(2h') for the flow along 1 with signal √ᾱ and noise sd √C (C of w_cov)",
             st["w2m_weight"], (lw(ab_s, c_s) - lw(ab_t, c_t)) / (2 * (lw(ab_t, c_t) - lw(ab_p, c_p)))),
        Step("C_t = 1ᵀ(c_t² σ_c² 1 1ᵀ + σ_0²(1-ᾱ_t) I)1/n at N_s = n σ_c²",
             _quad(c_t**2 * sigma_c**2 * J1 + sigma0**2 * (1 - ab_t) * I), st["w_cov"].subs(Ns, n * sigma_c**2)),
        Step("1 is an eigenvector of Σ_ξ = σ_c² 1 1ᵀ with eigenvalue N_s = n σ_c²: 1ᵀΣ_ξ1/n",
             _quad(sigma_c**2 * J1), n * sigma_c**2),
        Step("whitened jump x_s = √ᾱ_s x̂_0 + C_s^½ C_t^-½ (x_t - √ᾱ_t x̂_0) on z (factor √(C_s/C_t) along 1)",
             sp.sqrt(ab_s) * g0 * z + kw * (z - sp.sqrt(ab_t) * g0 * z), st["whitened_gains"] * z),
        Step("whitened, exact gains (N_s = N): J = (√(ᾱ_s ᾱ_t) λ + √(C_s C_t))/|w_t|²",
             st["whitened_gains"].subs({g0: gz0, Ns: Nx}), st["whitened_factor"]),
        Step("1 - √ᾱ_t g_0 = C_t/|w_t|² (exact gain, N_s = N)", 1 - sp.sqrt(ab_t) * gz0,
             st["w_cov"].subs(Ns, Nx) / st["wsq"]),
        Step("whitened at N_s = 0 is DDIM's deterministic jump with ξ̂ = 0 (k of result 'ddim')",
             st["whitened_gains"].subs(Ns, 0),
             st["jump_gains"].subs({gxi: 0, kk: ddim.statements()["k_deterministic"]})),
        Step("whitened at c ≡ 0 is DDIM's deterministic jump (the frozen-mean factor)",
             st["whitened_factor"].subs({c_t: 0, c_s: 0}), st["jump_factor"].subs({c_t: 0, c_s: 0})),
        Step("2M on z: √ᾱ_s D + k(z_t - √ᾱ_t D), D = x̂_0 + ω(x̂_0 - x̂_0'): coefficient of z_t",
             w2m.coeff(z), st["w2m_zt"]),
        Step("2M on z: coefficient of z_p", w2m.coeff(zp), st["w2m_zp"]),
        Step("2M on z: nothing else", w2m - w2m.coeff(z) * z - w2m.coeff(zp) * zp, 0),
        Step("2M with ω = 0 (first jump, last jump to s = 0) is the whitened jump",
             st["w2m_zt"].subs({om: 0, kk: kw}), st["whitened_gains"]),
        Step("2M weight at N_s = 0 is DPM-Solver++'s h/(2h'), λ = log(√ᾱ/(σ_0√(1-ᾱ)))",
             st["w2m_weight"].subs(Ns, 0),
             (lam_dpm(ab_s) - lam_dpm(ab_t)) / (2 * (lam_dpm(ab_t) - lam_dpm(ab_p)))),
    ]
    # product form, unrolled over K jumps with fully symbolic w vectors (the last one w_0 = (√λ, 0, 0))
    for K in (1, 2, 3):
        ws_ = [sp.Matrix(indexed(f"w{i}", 3, real=True)) for i in range(K)] + [sp.Matrix([sp.sqrt(lam), 0, 0])]
        var = S0
        prod = S0 / dot(ws_[0], ws_[0])
        for i in range(K):
            Ji = dot(ws_[i + 1], ws_[i]) / dot(ws_[i], ws_[i])
            var = st["step_var"].subs({kk: Ji, Vt: var, s2: 0})
            prod *= dot(ws_[i + 1], ws_[i])**2 / (dot(ws_[i + 1], ws_[i + 1]) * dot(ws_[i], ws_[i]))
        steps.append(Step(f"product form, K = {K} jumps: Var_gen/Var_data = (S_0/|w_T|²) ∏ cos²", var / lam, prod))
    # ancestral recursion unrolled against the vectorised sum (t = 1 adds no noise)
    for T in (1, 2, 3, 4):
        Js, ss = indexed("J", T, real=True), indexed("s2", T, positive=True)
        var = S0
        for t in range(T, 0, -1):
            var = st["step_var"].subs({kk: Js[t - 1], Vt: var, s2: ss[t - 1] if t > 1 else 0})
        closed = sp.prod([j**2 for j in Js]) * S0 + sum(ss[t - 1] * sp.prod([j**2 for j in Js[:t - 1]])
                                                        for t in range(2, T + 1))
        steps.append(Step(f"ancestral, T = {T}: V_0 = (∏ J_t²) S_0 + Σ_(t≥2) σ_t² ∏_(u<t) J_u²", var, closed))
    return run_steps(
        "start_mismatch", "Start mismatch of the brightness coordinate and its path to x_0",
        ["z = 1ᵀx/√n (per channel, n = H·W); λ = n Var L_avg(x_0), N = n σ_c², ξ = σ_c ζ 1 (brightness family)",
         "forward marginal of result 'forward': z_t = √ᾱ_t z_0 + c_t z_ξ + σ_0 √(1-ᾱ_t) z_ε, independent terms",
         "(b): Gaussian data with 1 an eigenvector of Cov x_0 (z decouples), exact E[x_0|x_t], E[ξ|x_t]",
         "KL direction: KL(q(z_T) ‖ p(z_T)), forward law against the sampler's start"],
        st, steps,
        "The brightness coordinate z_T has forward variance |w_T|². Base and conventional offset noise start "
        "from σ_0², so their variance ratio and KL grow without bound in n; the proposed start keeps the ratio "
        "bounded by 1 + ᾱ_T V/σ_c²; zero terminal SNR and the signal-leak start have ratio 1. For Gaussian data "
        "with exact conditional means every deterministic jump multiplies Var/|w|² by cos²∠(w_t, w_s) ≤ 1, so "
        "Var_gen(L_avg)/Var_data(L_avg) = (S_0/|w_T|²) ∏ cos²; the ancestral chain is the affine recursion "
        "V_{t-1} = J_t² V_t + σ_t². The samplers' few-step defaults are linear in z too: the whitened jump "
        "multiplies z by √ᾱ_s g_0 + √(C_s/C_t)(1 - √ᾱ_t g_0), DPM-Solver++(2M) on the whitened flow is the "
        "recursion z_s = a z_t + b z_p.",
        t0, notes=["r = n ᾱ_T V/σ_0²: base ρ = 1 + r - ᾱ_T",
                   "the signal-leak start needs the per-channel mean and variance of the data's brightness",
                   "(d): the whitened jump and its 2M form are linear in z, so the predictor is exact for them too"])


def reference():
    """Generated functions (name, arguments, docstring, statements, substitutions) for derivations/codegen.py."""
    S = {k: sp.Symbol(k, real=True) for k in "abar_t abar_s abar_p c_t c_s c_p lam N Ns sigma0 g0 g0p gxi rho d2 "
         "k omega abar_T V tau".split()}
    sub = {ab_t: S["abar_t"], ab_s: S["abar_s"], ab_p: S["abar_p"], c_t: S["c_t"], c_s: S["c_s"], c_p: S["c_p"],
           lam: S["lam"], Nx: S["N"], Ns: S["Ns"], sigma0: S["sigma0"], g0: S["g0"], g0p: S["g0p"], gxi: S["gxi"],
           rho: S["rho"], d2: S["d2"], kk: S["k"], om: S["omega"], abar_T: S["abar_T"], V: S["V"],
           tau: S["tau"]}
    st = statements()
    return [
        ("start_mismatch_wsq", "abar_t, c_t, lam, N, sigma0",
         "|w_t|² = ᾱ_t λ + c_t² N + σ_0²(1-ᾱ_t): Var of z_t = 1ᵀx_t/√n (result 'start_mismatch').", [st["wsq"]], sub),
        ("start_mismatch_gains", "abar_t, c_t, lam, N, sigma0",
         "(g_0, g_ξ): E[z_0|z_t] = g_0 z_t, E[z_ξ|z_t] = g_ξ z_t for Gaussian data (result 'start_mismatch').",
         [st["gain_x0"], st["gain_xi"]], sub),
        ("start_mismatch_ddim_factor", "abar_t, abar_s, c_t, c_s, g0, gxi",
         "J of the deterministic jump t → s on z, given the gains (result 'start_mismatch', k of 'ddim').",
         [st["jump_gains"].subs(kk, ddim.statements()["k_deterministic"])], sub),
        ("start_mismatch_jump_factor", "abar_t, abar_s, c_t, c_s, lam, N, sigma0",
         "J = w_s·w_t/|w_t|²: the deterministic jump with exact gains (result 'start_mismatch').",
         [st["jump_factor"]], sub),
        ("start_mismatch_whitened_factor", "abar_t, abar_s, c_t, c_s, Ns, sigma0, g0",
         "z_s/z_t of the whitened jump t → s given the gain g_0, N_s = n σ_c² of the sampler's q(ξ) "
         "(result 'start_mismatch').", [st["whitened_gains"]], sub),
        ("start_mismatch_w2m_weight", "abar_t, abar_s, abar_p, c_t, c_s, c_p, Ns, sigma0",
         "ω = h/(2h') of DPM-Solver++(2M) on the whitened flow along 1 (result 'start_mismatch').",
         [st["w2m_weight"]], sub),
        ("start_mismatch_w2m_coefs", "abar_t, abar_s, k, omega, g0, g0p",
         "(a, b): z_s = a z_t + b z_p for the whitened 2M jump, k = √(C_s/C_t) (result 'start_mismatch').",
         [st["w2m_zt"], st["w2m_zp"]], sub),
        ("start_mismatch_n_max_base", "abar_T, V, sigma0, tau",
         "n_max = σ_0²(τ + ᾱ_T)/(ᾱ_T V): base's start ratio ρ ≤ 1 + τ exactly for n ≤ n_max (result "
         "'start_mismatch').", [st["n_max_base"]], sub),
        ("start_mismatch_kl", "rho, d2",
         "KL(N(δ, ρ v) ‖ N(0, v)) = (ρ - 1 - log ρ + d²)/2, d² = δ²/v (result 'start_mismatch').", [st["kl"]], sub),
    ]
