"""E[ξ | x_t] from an ε- or v-network, for Gaussian q(ξ) = N(μ_ξ, Σ_ξ).

Input x_t = √ᾱ_t x_0 + √(1-ᾱ_t) η_t with η_t = σ_0 ε + ψ_t ξ; (ε, ξ) is jointly Gaussian and
independent of x_0.  The residual r = ξ - μ_ξ - K_t (η_t - ψ_t μ_ξ) with

    K_t = ψ_t Σ_ξ (σ_0² I + ψ_t² Σ_ξ)⁻¹

has mean 0 and Cov[r, η_t] = 0, so r (a linear image of (ε, ξ)) is independent of (x_0, η_t) and
therefore of x_t.  Hence E[ξ | x_t] = μ_ξ + K_t (E[η_t | x_t] - ψ_t μ_ξ), affine in E[η_t | x_t].
Statements are written per eigen-direction of Σ_ξ (variance Σ_ξ there; every factor of K_t is a
function of Σ_ξ, so the matrices commute); the matrix form is checked for an explicit 2×2 Σ_ξ.

- brightness ξ = σ_c z 1 (and per_channel: one such block per channel, m components each):
  by Sherman–Morrison K_t = g 1 1ᵀ with g = ψ_t σ_c² / (σ_0² + m ψ_t² σ_c²), i.e.
  ξ̂_i = g Σ_{j in i's group} η̂_j (μ_ξ = 0);
- ε̂ = (η̂ - ψ_t ξ̂)/σ_0 and x̂_0 = (x_t - √(1-ᾱ_t) η̂)/√ᾱ_t are E[ε | x_t] and E[x_0 | x_t];
- ψ_t ≠ ϕ_t: the network's target σ_0 ε + ϕ_t ξ has conditional mean η̂ - (ψ_t-ϕ_t) ξ̂, affine in η̂,
  and ξ̂ = μ_ξ + ψ_t Σ_ξ (σ_0² I + ψ_t ϕ_t Σ_ξ)⁻¹ (η̂^tgt - ϕ_t μ_ξ) directly from the target's mean;
- a v-network: η̂ = √ᾱ_t v̂ + √(1-ᾱ_t) x_t + ᾱ_t (ψ_t-ϕ_t) ξ̂ (result 'vpred' when ψ_t = ϕ_t); with ξ̂
  inserted this is affine in η̂ with slope 1 - ᾱ_t(ψ_t-ϕ_t)K_t > 0 for ψ_t ϕ_t ≥ 0, so η̂ follows from (v̂, x_t);
- an x_0-network (diffusers' prediction_type 'sample') outputs x̂_0 = E[x_0 | x_t]; η_t = (x_t - √ᾱ_t x_0)/√(1-ᾱ_t)
  is affine in x_0 given x_t, so E[η_t | x_t] = (x_t - √ᾱ_t x̂_0)/√(1-ᾱ_t) (`u_from_sample`), and ξ̂ follows by
  the gain K_t (whatever ϕ_t: the input noise's mean needs no target).
"""
from __future__ import annotations

import time

import sympy as sp

from . import vpred
from .core import Perturb, Step, apply_perturb, run_steps
from .symbols import eps, sigma0, sigma_c, x0, xi, xt

Sigma = sp.Symbol(r"\Sigma_{\xi}", positive=True)     # variance of ξ along one eigen-direction of Σ_ξ
mu = sp.Symbol(r"\mu_{\xi}", real=True)
psi, phi = vpred.psi, vpred.phi                      # ψ_t, ϕ_t
ab = vpred.ab                                        # ᾱ_t
eta_hat = sp.Symbol(r"\hat{\eta}_t", real=True)      # E[η_t | x_t], η_t = σ_0 ε + ψ_t ξ (the input noise)
eta_tgt = sp.Symbol(r"\hat{\eta}^{\mathrm{tgt}}_t", real=True)   # E[σ_0 ε + ϕ_t ξ | x_t] (the target)
xi_hat = sp.Symbol(r"\hat{\xi}", real=True)          # E[ξ | x_t]
K_t = sp.Symbol("K_t", real=True)                    # the gain
m = sp.Symbol("m", positive=True, integer=True)      # components that share one z (rank-one ξ)
v_hat = vpred.v_hat
x0_hat = sp.Symbol(r"\hat{x}_0", real=True)          # E[x_0 | x_t], an x_0-network's output


def statements() -> dict[str, sp.Expr]:
    return {
        "gain": psi * Sigma / (sigma0**2 + psi**2 * Sigma),             # K_t
        "xi_hat": mu + K_t * (eta_hat - psi * mu),                       # E[ξ | x_t]
        "eps_hat": (eta_hat - psi * xi_hat) / sigma0,                    # E[ε | x_t]
        "x0_hat": (xt - sp.sqrt(1 - ab) * eta_hat) / sp.sqrt(ab),        # E[x_0 | x_t]
        "gain_rank_one": psi * sigma_c**2 / (sigma0**2 + m * psi**2 * sigma_c**2),
        "target_hat": eta_hat - (psi - phi) * xi_hat,                    # E[σ_0 ε + ϕ_t ξ | x_t]
        "gain_target": psi * Sigma / (sigma0**2 + psi * phi * Sigma),    # ξ̂ from the target's mean
        "gain_rank_one_target": psi * sigma_c**2 / (sigma0**2 + m * psi * phi * sigma_c**2),
        "eta_from_v": sp.sqrt(ab) * v_hat + sp.sqrt(1 - ab) * xt + ab * (psi - phi) * xi_hat,
        "u_from_sample": (xt - sp.sqrt(ab) * x0_hat) / sp.sqrt(1 - ab),  # E[σ_0 ε + ψ_t ξ | x_t] from x̂_0
    }


# Second-order calculus of linear forms in independent zero-mean sources z ~ (0, Σ_z), ε ~ (0, I):
# a form is (constant, z-coefficient, ε-coefficient); Cov(A, B) = A_z Σ_z B_zᵀ + A_ε B_εᵀ.
def _cov(a, b, var_z):
    return a[1] * var_z * _tr(b[1]) + a[2] * _tr(b[2])


def _tr(x):
    return x.T if isinstance(x, sp.MatrixBase) else x


def _combine(*terms):
    """Σ coef · form (coef a scalar or a matrix acting on the form's components)."""
    out = None
    for coef, f in terms:
        g = tuple(coef * part for part in f)
        out = g if out is None else tuple(p + q for p, q in zip(out, g))
    return out


def matrix_function(expr: sp.Expr, var: sp.Symbol, M: sp.Matrix) -> sp.Matrix:
    """The rational function `expr` of `var` evaluated at the matrix M as numerator(M) · denominator(M)⁻¹."""
    num, den = sp.fraction(sp.together(expr))

    def poly_at(p):
        P = sp.Poly(p, var)
        return sum((c * M**k for (k,), c in P.terms()), sp.zeros(*M.shape))
    return poly_at(num) * poly_at(den).inv()


def derive(perturb: Perturb | None = None, **_):
    t0 = time.perf_counter()
    st = apply_perturb(statements(), perturb)
    gain = st["gain"]
    steps: list[Step] = []

    # Scalar (one eigen-direction of Σ_ξ): ξ = μ + z, z ~ (0, Σ_ξ), independent of ε ~ (0, 1).
    xi_f, eps_f, one = (mu, 1, 0), (0, 0, 1), (1, 0, 0)
    eta_f = _combine((sigma0, eps_f), (psi, xi_f))
    r_f = _combine((1, xi_f), (-1, (mu, 0, 0)), (-gain, eta_f), (gain * psi * mu, one))
    steps += [
        Step("residual r = ξ - μ_ξ - K_t(η_t - ψ_t μ_ξ) has mean 0", r_f[0], 0),
        Step("Cov[r, η_t] = ψ_t Σ_ξ - K_t(σ_0² + ψ_t² Σ_ξ) = 0 at K_t = ψ_t Σ_ξ/(σ_0² + ψ_t² Σ_ξ)",
             _cov(r_f, eta_f, Sigma), 0),
        Step("ξ - r = μ_ξ + K_t(η_t - ψ_t μ_ξ): the statement at η̂ = η_t (so E[ξ|x_t] = it, as E[r|x_t] = 0)",
             xi - (r_f[0] + r_f[1] * (xi - mu) + r_f[2] * eps),      # r as a function of z = ξ - μ_ξ and ε
             st["xi_hat"].subs({K_t: gain, eta_hat: sigma0 * eps + psi * xi})),
    ]

    # Matrix form, explicit 2×2: Σ_ξ symmetric with entries s11, s12, s22 and mean (μ1, μ2).
    s11, s12, s22, mu1, mu2 = sp.symbols("s_11 s_12 s_22 mu_1 mu_2", real=True)
    Sm, I2 = sp.Matrix([[s11, s12], [s12, s22]]), sp.eye(2)
    Km = matrix_function(gain, Sigma, Sm)
    mum = sp.Matrix([mu1, mu2])
    xi_m, eta_m = (mum, I2, sp.zeros(2)), (psi * mum, psi * I2, sigma0 * I2)
    r_m = (xi_m[0] - mum - Km * (eta_m[0] - psi * mum), xi_m[1] - Km * eta_m[1], xi_m[2] - Km * eta_m[2])
    cov_m = _cov(r_m, eta_m, Sm)
    steps += [Step(f"2×2 Σ_ξ: Cov[r, η_t][{i},{j}] = 0 with K_t = ψ_t Σ_ξ(σ_0² I + ψ_t² Σ_ξ)⁻¹", cov_m[i, j], 0)
              for i in range(2) for j in range(2)]
    steps += [Step("2×2 Σ_ξ: E[r] = 0", r_m[0][i], 0) for i in range(2)]
    comm = Km - psi * (sigma0**2 * I2 + psi**2 * Sm).inv() * Sm
    steps.append(Step("2×2 Σ_ξ: Σ_ξ and (σ_0² I + ψ_t² Σ_ξ)⁻¹ commute (the scalar form is the matrix form)",
                      sum(e**2 for e in comm), 0))

    # Rank-one ξ = σ_c z 1_m (brightness; per_channel block by block).  J = 1 1ᵀ has J² = m J, so
    # a I + b J acts as a + m b on 1 and as a on 1^⊥; R^m = span(1) ⊕ 1^⊥.
    g = st["gain_rank_one"]
    D = sigma0**2 + m * psi**2 * sigma_c**2
    Minv = (1 / sigma0**2, -psi**2 * sigma_c**2 / (sigma0**2 * D))    # Sherman–Morrison: (a, b) of M⁻¹
    on_one = lambda ab_: ab_[0] + m * ab_[1]                            # noqa: E731
    steps += [
        Step("Sherman–Morrison, on 1: (σ_0² + m ψ_t² σ_c²)·λ_1(M⁻¹) = 1", D * on_one(Minv), 1),
        Step("Sherman–Morrison, on 1^⊥: σ_0²·λ_⊥(M⁻¹) = 1", sigma0**2 * Minv[0], 1),
        Step("K_t = ψ_t σ_c² J M⁻¹ = g J, on 1: ψ_t σ_c² m·λ_1(M⁻¹) = m g (on 1^⊥ both are 0)",
             psi * sigma_c**2 * m * on_one(Minv), m * g),
        Step("rank-one gain is the general gain along 1 (eigenvalue m σ_c² of Σ_ξ): K_t = m g there",
             gain.subs(Sigma, m * sigma_c**2), m * g),
    ]
    for mm in range(1, 5):
        J = sp.ones(mm, mm)
        normal = g.subs(m, mm) * J * (sigma0**2 * sp.eye(mm) + psi**2 * sigma_c**2 * J) - psi * sigma_c**2 * J
        steps.append(Step(f"m = {mm}, explicit: g J (σ_0² I + ψ_t² σ_c² J) = ψ_t σ_c² J (every entry)",
                          sum(e**2 for e in normal), 0))
    Jb = sp.diag(sp.ones(2, 2), sp.ones(2, 2))           # per_channel: 2 channels of m = 2 components
    normal = g.subs(m, 2) * Jb * (sigma0**2 * sp.eye(4) + psi**2 * sigma_c**2 * Jb) - psi * sigma_c**2 * Jb
    steps.append(Step("per_channel, 2 channels × 2 components: block-diagonal g J solves the normal equation",
                      sum(e**2 for e in normal), 0))

    # ε̂, x̂_0 and the reconstruction of x_t.
    eta_true = sigma0 * eps + psi * xi
    xt_true = sp.sqrt(ab) * x0 + sp.sqrt(1 - ab) * eta_true
    steps += [
        Step("ε = (η_t - ψ_t ξ)/σ_0: eps_hat at (η̂, ξ̂) = (η_t, ξ)", st["eps_hat"].subs({eta_hat: eta_true, xi_hat: xi}), eps),
        Step("x_0 = (x_t - √(1-ᾱ_t) η_t)/√ᾱ_t: x0_hat at η̂ = η_t",
             st["x0_hat"].subs({eta_hat: eta_true}).subs(xt, xt_true), x0),
        Step("the estimates rebuild x_t: √ᾱ_t x̂_0 + √(1-ᾱ_t)(σ_0 ε̂ + ψ_t ξ̂) = x_t (any η̂, ξ̂)",
             sp.sqrt(ab) * st["x0_hat"] + sp.sqrt(1 - ab) * (sigma0 * st["eps_hat"] + psi * xi_hat), xt),
        Step("rank-one ε̂_i = (η̂_i - ψ_t g Σ_j η̂_j)/σ_0 (μ_ξ = 0)",
             st["eps_hat"].subs(xi_hat, st["xi_hat"].subs({K_t: g, mu: 0, eta_hat: sp.Symbol("S", real=True)})),
             (eta_hat - psi * g * sp.Symbol("S", real=True)) / sigma0),
    ]

    # ψ_t ≠ ϕ_t: the network's target σ_0 ε + ϕ_t ξ.
    xi_hat_eta = st["xi_hat"].subs(K_t, gain)
    tgt_of_eta = st["target_hat"].subs(xi_hat, xi_hat_eta)
    steps += [
        Step("σ_0 ε + ϕ_t ξ = η_t - (ψ_t-ϕ_t) ξ: target_hat at (η̂, ξ̂) = (η_t, ξ)",
             st["target_hat"].subs({eta_hat: eta_true, xi_hat: xi}), sigma0 * eps + phi * xi),
        Step("target mean is affine in η̂: η̂^tgt - ϕ_t μ_ξ = (σ_0² + ψ_t ϕ_t Σ_ξ)/(σ_0² + ψ_t² Σ_ξ)·(η̂ - ψ_t μ_ξ)",
             tgt_of_eta - phi * mu, (sigma0**2 + psi * phi * Sigma) / (sigma0**2 + psi**2 * Sigma) * (eta_hat - psi * mu)),
        Step("ξ̂ from the target's mean: μ_ξ + ψ_t Σ_ξ(σ_0² + ψ_t ϕ_t Σ_ξ)⁻¹(η̂^tgt - ϕ_t μ_ξ) = E[ξ|x_t]",
             mu + st["gain_target"] * (tgt_of_eta - phi * mu), xi_hat_eta),
        Step("ψ_t = ϕ_t: the target gain is K_t", st["gain_target"].subs(phi, psi), gain),
        Step("rank-one target gain: along 1 it is m·ψ_t σ_c²/(σ_0² + m ψ_t ϕ_t σ_c²)",
             st["gain_target"].subs(Sigma, m * sigma_c**2), m * st["gain_rank_one_target"]),
    ]

    # v-network: v = √ᾱ_t(σ_0 ε + ϕ_t ξ) - √(1-ᾱ_t) x_0 (result 'vpred').
    v_true = vpred.statements()["v_def"].subs(vpred.eta_sym, sigma0 * eps + phi * xi)
    steps += [
        Step("v-network: η_t = √ᾱ_t v + √(1-ᾱ_t) x_t + ᾱ_t(ψ_t-ϕ_t) ξ (at v, x_t, ξ)",
             st["eta_from_v"].subs({v_hat: v_true, xi_hat: xi}).subs(xt, xt_true), eta_true),
        Step("ψ_t = ϕ_t: it is result 'vpred''s eps_from_v, no ξ̂ needed",
             st["eta_from_v"].subs(phi, psi), vpred.statements()["eps_from_v"]),
        Step("ψ_t ≠ ϕ_t: with ξ̂ = μ_ξ + K_t(η̂ - ψ_t μ_ξ), η̂·[1 - ᾱ_t(ψ_t-ϕ_t)K_t] = √ᾱ_t v̂ + √(1-ᾱ_t) x_t "
             "+ ᾱ_t(ψ_t-ϕ_t)(1 - ψ_t K_t) μ_ξ",
             eta_hat - st["eta_from_v"].subs(xi_hat, xi_hat_eta),
             eta_hat * (1 - ab * (psi - phi) * gain) - (sp.sqrt(ab) * v_hat + sp.sqrt(1 - ab) * xt
                                                         + ab * (psi - phi) * (1 - psi * gain) * mu)),
        Step("... where 1 - ᾱ_t(ψ_t-ϕ_t)K_t = (σ_0² + (1-ᾱ_t)ψ_t² Σ_ξ + ᾱ_t ψ_t ϕ_t Σ_ξ)/(σ_0² + ψ_t² Σ_ξ) "
             "> 0 for ψ_t ϕ_t ≥ 0: η̂ is affine in (v̂, x_t)",
             1 - ab * (psi - phi) * gain,
             (sigma0**2 + (1 - ab) * psi**2 * Sigma + ab * psi * phi * Sigma) / (sigma0**2 + psi**2 * Sigma)),
    ]
    # x_0-network: x̂_0 = E[x_0 | x_t] (diffusers' prediction_type 'sample').
    u = st["u_from_sample"]
    steps += [
        Step("x_0-network: (x_t - √ᾱ_t x_0)/√(1-ᾱ_t) = η_t = σ_0 ε + ψ_t ξ (at x̂_0 = x_0)",
             u.subs(x0_hat, x0).subs(xt, xt_true), eta_true),
        Step("... affine in x̂_0 given x_t (so E[· | x_t] moves inside): u(x̂_0) = u(0) - √ᾱ_t/√(1-ᾱ_t)·x̂_0",
             u - u.subs(x0_hat, 0), -sp.sqrt(ab) / sp.sqrt(1 - ab) * x0_hat),
        Step("... the inverse of x0_hat: x0_hat at η̂ = u_from_sample gives back x̂_0",
             st["x0_hat"].subs(eta_hat, u), x0_hat),
        Step("... and E[ξ | x_t] = μ_ξ + K_t(u - ψ_t μ_ξ) is the xi_hat statement at η̂ = u (any ϕ_t: u is the input "
             "noise's mean, not the target's)",
             xi_hat_eta.subs(eta_hat, u).subs({x0_hat: x0}).subs(xt, xt_true),
             mu + gain * (eta_true - psi * mu)),
    ]
    return run_steps(
        "xi_posterior", "E[ξ | x_t] in closed form from E[η_t | x_t], for Gaussian q(ξ)",
        ["q(ξ) = N(μ_ξ, Σ_ξ) (dirac, brightness, per_channel, gaussian); ε ~ N(0, I); x_0, ε, ξ independent",
         "x_t = √ᾱ_t x_0 + √(1-ᾱ_t) η_t with η_t = σ_0 ε + ψ_t ξ (result 'forward')",
         "the network is the MSE-optimal predictor of its target, so it outputs the conditional mean "
         "given x_t (η̂ = E[η_t|x_t] when ψ_t = ϕ_t; η̂^tgt = E[σ_0 ε + ϕ_t ξ | x_t] otherwise; v̂ = E[v|x_t])",
         "uncorrelated jointly Gaussian ⇒ independent; E[·|x_t] is linear",
         "statements per eigen-direction of Σ_ξ; matrix form checked for an explicit 2×2 Σ_ξ; rank-one "
         "form by Sherman–Morrison for symbolic m and explicitly for m ≤ 4 and 2 channels"],
        st, steps,
        "An ε-network trained with ψ_t = ϕ_t outputs η̂ = E[σ_0 ε + ψ_t ξ | x_t], and E[ξ | x_t] = "
        "μ_ξ + K_t(η̂ - ψ_t μ_ξ) with K_t = ψ_t Σ_ξ(σ_0² I + ψ_t² Σ_ξ)⁻¹, for every Gaussian q(ξ). For "
        "brightness or per_channel ξ this is ξ̂_i = g Σ_{j in i's group} η̂_j with g = ψ_t σ_c²/(σ_0² + m ψ_t² σ_c²). "
        "ε̂ = (η̂ - ψ_t ξ̂)/σ_0 and x̂_0 = (x_t - √(1-ᾱ_t) η̂)/√ᾱ_t follow. With ψ_t ≠ ϕ_t the "
        "network's output is the affine image η̂ - (ψ_t-ϕ_t) ξ̂ of η̂, and ξ̂ = μ_ξ + ψ_t Σ_ξ(σ_0² I + "
        "ψ_t ϕ_t Σ_ξ)⁻¹(η̂^tgt - ϕ_t μ_ξ) reads it directly. A v-network gives η̂ by result 'vpred' when ψ_t = ϕ_t, "
        "and as an affine function of (v̂, x_t) otherwise (ψ_t ϕ_t ≥ 0). An x_0-network's output x̂_0 gives "
        "E[σ_0 ε + ψ_t ξ | x_t] = (x_t - √ᾱ_t x̂_0)/√(1-ᾱ_t), and E[ξ | x_t] from it by the same gain.",
        t0, notes=["for Gaussian q(ξ) the output of an ε-, v- or x_0-network trained on the paper's loss determines E[ξ | x_t] "
                   "(for ψ_t ≠ ϕ_t when ψ_t ϕ_t ≥ 0): no extra network output is needed",
                   "rank-one: ξ̂ is the same in every component of a group"])
