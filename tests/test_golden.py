"""Golden values from the published definitions, each computed here independently of gendiff (math on
Python floats): named schedules, the zero-SNR rescale, exact training losses, ε ↔ v ↔ x_0 round trips,
MMD² and its bandwidth on a set small enough to do by hand, σ_t², and every coefficient table by at least
two independent routes (closed form, recursion, Gaussian conditioning, ELBO identities)."""
import itertools
import math
import operator

import numpy as np
import pytest
import torch

from gendiff.diffusion import eps_from_v, q_sample, target_eps, v_from_eps, x0_from_eps, x0_from_v
from gendiff.experiments.metrics import mmd, significant
from gendiff.losses import training_loss
from gendiff.schedules import make_beta, rescale_zero_terminal_snr
from gendiff.tables import build_tables
from gendiff.xi import Dirac

REL = 1e-12


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# --- named schedules against their published definitions -------------------------------------------------

@pytest.mark.parametrize("T", [1000, 10, 2])
def test_linear_schedule(T):
    """Ho et al. (2020): β_t evenly spaced from 1e-4 to 0.02."""
    b = make_beta("linear", T).tolist()
    ref = [1e-4 + (t - 1) * (0.02 - 1e-4) / (T - 1) for t in range(1, T + 1)]
    assert rel_err(b, ref) < REL
    assert b[0] == pytest.approx(1e-4, rel=1e-15) and b[-1] == pytest.approx(0.02, rel=1e-15)


@pytest.mark.parametrize("T", [1000, 10, 2])
def test_scaled_linear_schedule(T):
    """Stable Diffusion: √β_t evenly spaced from √0.00085 to √0.012."""
    b = make_beta("scaled_linear", T).tolist()
    lo, hi = math.sqrt(0.00085), math.sqrt(0.012)
    ref = [(lo + (t - 1) * (hi - lo) / (T - 1)) ** 2 for t in range(1, T + 1)]
    assert rel_err(b, ref) < REL
    assert b[0] == pytest.approx(0.00085, rel=1e-14) and b[-1] == pytest.approx(0.012, rel=1e-14)


def cosine_reference(T, s=0.008):
    """Nichol & Dhariwal (2021), eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), β ≤ 0.999."""
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 for t in range(T + 1)]
    return [min(1 - (f[t] / f[0]) / (f[t - 1] / f[0]), 0.999) for t in range(1, T + 1)]


@pytest.mark.parametrize("T", [1000, 50, 1])
def test_cosine_schedule(T):
    b = make_beta("cosine", T).tolist()
    assert rel_err(b, cosine_reference(T)) < 1e-9
    if T == 1000:
        assert b[-1] == 0.999                                   # the clip is active at the end
        assert b[0] == pytest.approx(4.1284e-05, rel=1e-4)       # published first step (s = 0.008)
        assert rel_err(b, cosine_reference(T, s=0.0008)) > 1e-3  # the offset s matters: a negative control


def test_zero_terminal_snr_rescale():
    """Lin et al. (2024), Algorithm 1: √ᾱ_t ↦ (√ᾱ_t − √ᾱ_T) √ᾱ_1/(√ᾱ_1 − √ᾱ_T), then β from the squares."""
    for name, T in (("linear", 1000), ("scaled_linear", 1000), ("cosine", 100)):
        beta = make_beta(name, T).tolist()
        sab = [math.sqrt(p) for p in itertools.accumulate((1 - x for x in beta), operator.mul)]
        new = rescale_zero_terminal_snr(make_beta(name, T)).tolist()
        sab_new = [math.sqrt(p) for p in itertools.accumulate((1 - x for x in new), operator.mul)]
        assert sab_new[-1] == 0 and new[-1] == 1.0                      # ᾱ_T = 0
        assert sab_new[0] == pytest.approx(sab[0], rel=1e-12)           # √ᾱ_1 kept
        s1, sT = sab[0], sab[-1]
        affine = [(x - sT) * s1 / (s1 - sT) for x in sab]               # √ᾱ'_t is an affine map of √ᾱ_t
        assert max(abs(a - b) for a, b in zip(sab_new, affine)) < 1e-12
        ref = [1 - (affine[0] ** 2)] + [1 - affine[t] ** 2 / affine[t - 1] ** 2 for t in range(1, T)]
        assert rel_err(new[:-1], ref[:-1]) < 1e-9


# --- σ_t², the reverse-step variance ---------------------------------------------------------------------

def schedule_floats(beta):
    """(β, α, ᾱ, 1-ᾱ) as Python floats; 1-ᾱ via expm1 of Σ log1p(-β)."""
    b = [float(x) for x in beta]
    logs = np.cumsum([math.log1p(-x) for x in b]).tolist()
    return b, [1 - x for x in b], [math.exp(v) for v in logs], [-math.expm1(v) for v in logs]


@pytest.mark.parametrize("sigma0", [1.0, 0.37])
def test_sigma2_is_its_definition(sigma0):
    """σ_t² = σ_0² β̃_t = σ_0² β_t (1-ᾱ_{t-1})/(1-ᾱ_t) with σ_1² = σ_0² β_1; or σ_0² β_t ('beta')."""
    beta = make_beta("cosine", 200)
    b, _, _, om = schedule_floats(beta)
    ref = [sigma0**2 * b[0]] + [sigma0**2 * b[t] * om[t - 1] / om[t] for t in range(1, len(b))]
    assert rel_err(build_tables(beta, sigma0=sigma0).sigma2, ref) < 1e-12
    assert rel_err(build_tables(beta, sigma0=sigma0, variance="beta").sigma2, [sigma0**2 * x for x in b]) < 1e-15


# --- coefficient tables, each by at least two independent routes ----------------------------------------

def routes(beta, gamma, sigma0):
    """Every table from β, γ, σ_0 by recursion and Gaussian conditioning (no closed forms of gendiff)."""
    b, a, ab, om = schedule_floats(beta)
    T = len(b)
    c, prev = [], 0.0
    for t in range(T):                                         # c_t = √α_t (c_{t-1} + γ_t), c_0 = 0
        prev = math.sqrt(a[t]) * (prev + gamma[t])
        c.append(prev)
    out = {k: [] for k in ("A", "B", "C", "var", "phi_kl", "mu_eps", "lam_kl")}
    for t in range(T):
        if t == 0:                                             # x_0 is known: the posterior is a point
            A, B, C, var = 1.0, 0.0, 0.0, 0.0
        else:                                                  # x_{t-1}|x_0,ξ prior, x_t|x_{t-1},ξ likelihood
            v1, v2 = sigma0**2 * om[t - 1], sigma0**2 * b[t]
            var = 1 / (1 / v1 + a[t] / v2)
            A, B = var * math.sqrt(ab[t - 1]) / v1, var * math.sqrt(a[t]) / v2
            C = var * (c[t - 1] / v1 - a[t] * gamma[t] / v2)
        mu_eps = A * math.sqrt(om[t]) / math.sqrt(ab[t])      # μ̃ written in x_t and η: the η-coefficient
        out["A"].append(A), out["B"].append(B), out["C"].append(C), out["var"].append(var)
        out["mu_eps"].append(mu_eps)
        out["phi_kl"].append(c[t] / math.sqrt(om[t]) - C / mu_eps)   # target that makes μ_θ match μ̃
    sigma2 = [sigma0**2 * b[0]] + [out["var"][t] for t in range(1, T)]
    out["lam_kl"] = [out["mu_eps"][t] ** 2 / (2 * sigma2[t]) for t in range(T)]
    return dict(b=b, a=a, ab=ab, om=om, c=c, psi=[c[t] / math.sqrt(om[t]) for t in range(T)], sigma2=sigma2, **out)


CASES = [("linear", 200, "balanced"), ("cosine", 100, "balanced"), ("scaled_linear", 60, "zero"),
         ("linear", 80, "random"), ("random", 120, "random"), ("random", 40, "balanced")]


def case_tables(kind, T, gamma, sigma0):
    rng = np.random.default_rng(T)
    beta = torch.from_numpy(np.exp(rng.uniform(np.log(1e-4), np.log(0.3), T))) if kind == "random" \
        else make_beta(kind, T)
    g = torch.from_numpy(rng.uniform(0.01, 0.5, T)) if gamma == "random" else gamma
    tb = build_tables(beta, gamma=g, sigma0=sigma0)
    return tb, routes(beta.tolist(), tb.gamma.tolist(), sigma0)


SIGMA0 = 0.8
TOL = 1e-9


def close(a, b, scale=None, tol=TOL) -> bool:
    """max |a - b| / scale ≤ tol; scale defaults to |b| (relative error)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    s = np.abs(b) if scale is None else np.asarray(scale, dtype=np.float64)
    return bool(np.all(np.abs(a - b) <= tol * s + 1e-300))


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(map(str, c)))
def case(request):
    return case_tables(*request.param, SIGMA0)


def test_tables_by_recursion(case):
    """Route 1, the forward recursion: c_t = √α_t(c_{t-1} + γ_t), ψ_t = c_t/√(1-ᾱ_t); ϕ_t = elbo.phi of γ_t;
    balanced: c_T = 1 from the recursion over the table's γ."""
    tb, r = case
    b, a, om = r["b"], r["a"], r["om"]
    assert close(tb.c, r["c"]) and close(tb.psi, r["psi"])
    assert close(tb.phi, [g * math.sqrt(a[t] * om[t]) / b[t] for t, g in enumerate(tb.gamma.tolist())])
    if tb.method == "proposed":
        assert r["c"][-1] == pytest.approx(1.0, rel=TOL)


def test_tables_by_gaussian_conditioning(case):
    """Route 2, Bayes' rule on q(x_{t-1}|x_0,ξ) q(x_t|x_{t-1},ξ): A_t, B_t, C_t, σ_0²β̃_t; then the target ϕ_t
    and the weight λ_t that make ‖μ̃_t − μ_θ‖²/(2σ_t²) the loss, with μ̃ written in x_t and η."""
    tb, r = case
    T = tb.T
    assert close(tb.post_coef_x0, r["A"])
    assert close(tb.post_coef_xt, r["B"], scale=np.ones(T))
    c_prev, om_prev = (torch.cat([x.new_zeros(1), x[:-1]]) for x in (tb.c, tb.one_minus_alpha_bar))
    cscale = ((tb.beta * c_prev).abs() + (tb.alpha * tb.gamma * om_prev).abs()) / tb.one_minus_alpha_bar
    assert close(tb.post_coef_xi, r["C"], scale=cscale)
    assert close(tb.post_var, r["var"], scale=np.full(T, SIGMA0**2))
    assert close(tb.sigma2, r["sigma2"])
    assert close(tb.phi, r["phi_kl"], scale=np.abs(r["psi"]) + np.abs(r["phi_kl"]))
    assert close(tb.mu_eps_coef, r["mu_eps"])
    assert close(tb.lam, r["lam_kl"]) and close(tb.lam_v, np.array(r["lam_kl"]) * np.array(r["ab"]))


def test_tables_by_closed_forms(case):
    """Route 3, the paper's closed forms: DDPM's A_t, B_t, β̃_t; C_t; μ_ε = β_t/(√α_t √(1-ᾱ_t));
    λ_t = β_t²/(2σ_t² α_t (1-ᾱ_t)), λ_t ᾱ_t = β_t² ᾱ_{t-1}/(2σ_t² (1-ᾱ_t)); balanced γ_t = K β_t/(α_t √ᾱ_{t-1})."""
    tb, r = case
    b, a, ab, om, c, s2 = r["b"], r["a"], r["ab"], r["om"], r["c"], r["sigma2"]
    T = len(b)
    abp, omp, cp = [1.0] + ab[:-1], [0.0] + om[:-1], [0.0] + c[:-1]
    g = tb.gamma.tolist()
    assert close(tb.post_coef_x0, [math.sqrt(abp[t]) * b[t] / om[t] for t in range(T)])
    assert close(tb.post_coef_xt, [math.sqrt(a[t]) * omp[t] / om[t] for t in range(T)], scale=np.ones(T))
    cform = [(b[t] * cp[t] - a[t] * g[t] * omp[t]) / om[t] for t in range(T)]
    assert close(tb.post_coef_xi, cform, scale=[(abs(b[t] * cp[t]) + abs(a[t] * g[t] * omp[t])) / om[t]
                                                for t in range(T)])
    assert close(tb.post_var, [SIGMA0**2 * b[t] * omp[t] / om[t] for t in range(T)], scale=np.full(T, SIGMA0**2))
    assert close(tb.mu_eps_coef, [b[t] / math.sqrt(a[t] * om[t]) for t in range(T)])
    assert close(tb.lam, [b[t] ** 2 / (2 * s2[t] * a[t] * om[t]) for t in range(T)])
    assert close(tb.lam_v, [b[t] ** 2 * abp[t] / (2 * s2[t] * om[t]) for t in range(T)])
    if tb.method == "proposed":
        K = math.sqrt(ab[-1]) / om[-1]
        assert close(tb.gamma, [K * b[t] / (a[t] * math.sqrt(abp[t])) for t in range(T)])
        assert close(tb.c, [K * om[t] / math.sqrt(ab[t]) for t in range(T)])
        assert close(tb.psi, [K * math.sqrt(om[t] / ab[t]) for t in range(T)])


def test_tables_by_identities(case):
    """Route 4, identities between tables: c = ψ√(1-ᾱ), A/√ᾱ + B = 1/√α, μ_ε = A√(1-ᾱ)/√ᾱ, λ = μ_ε²/(2σ²),
    λ_v = λ ᾱ, and, balanced, ψ = ϕ with C = 0 and the balance condition γ_t = β_t c_{t-1}/(α_t(1-ᾱ_{t-1}))."""
    tb, _ = case
    sab, som = tb.alpha_bar.sqrt(), tb.one_minus_alpha_bar.sqrt()
    assert close(tb.c, tb.psi * som)
    assert close(tb.post_coef_x0 / sab + tb.post_coef_xt, 1 / tb.alpha.sqrt())
    assert close(tb.mu_eps_coef, tb.post_coef_x0 * som / sab)
    assert close(tb.lam, tb.mu_eps_coef**2 / (2 * tb.sigma2))
    assert close(tb.lam_v, tb.lam * tb.alpha_bar)
    if tb.method == "proposed":
        assert close(tb.phi, tb.psi)
        assert close(tb.post_coef_xi, np.zeros(tb.T), scale=tb.beta * tb.c / tb.one_minus_alpha_bar)
        cond = tb.beta[1:] * tb.c[:-1] / (tb.alpha[1:] * tb.one_minus_alpha_bar[:-1])
        assert close(tb.gamma[1:], cond)


def test_offset_tables_describe_their_input_noise():
    """Conventional offset noise: ψ_t = ϕ_t = w, and c_t = w √(1-ᾱ_t), the ξ-coefficient of E[x_t|x_0,ξ]."""
    beta = make_beta("linear", 100)
    tb = build_tables(beta, offset_w=0.1)
    _, _, _, om = schedule_floats(beta)
    assert (tb.psi == 0.1).all() and (tb.phi == 0.1).all()
    assert rel_err(tb.c, [0.1 * math.sqrt(o) for o in om]) < 1e-15


# --- exact training losses for fixed (t, ε, ξ) ---------------------------------------------------------

def loss_case(gamma):
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(4, 3, generator=g, dtype=torch.float64)
    xi = torch.randn(4, 1, generator=g, dtype=torch.float64).expand(4, 3).clone()
    t = torch.tensor([1, 17, 60, 100])
    beta = make_beta("linear", 100)
    gam = gamma if gamma != "random" else torch.from_numpy(np.random.default_rng(0).uniform(0.01, 0.3, 100))
    tb = build_tables(beta, gamma=gam, sigma0=0.6)
    return x0, noise, xi, t, tb, routes(beta.tolist(), tb.gamma.tolist(), 0.6)


@pytest.mark.parametrize("gamma", ["balanced", "random"])
@pytest.mark.parametrize("pred", ["eps", "v"])
@pytest.mark.parametrize("weight", ["simple", "elbo"])
def test_training_loss_exact_values(gamma, pred, weight):
    """The loss of a model that outputs W x_t, computed element by element from the definition."""
    x0, noise, xi, t, tb, r = loss_case(gamma)
    W = torch.tensor([[0.3, -0.1, 0.2], [0.0, 0.5, 0.1], [-0.2, 0.1, 0.4]], dtype=torch.float64)
    loss = training_loss(lambda x, s: x @ W.T, x0, tb, Dirac(), pred=pred, weight=weight, t=t, noise=noise, xi=xi)
    total = 0.0
    for i, step in enumerate(t.tolist()):
        k = step - 1
        sab, som = math.sqrt(r["ab"][k]), math.sqrt(r["om"][k])
        phi = tb.gamma[k].item() * math.sqrt(r["a"][k]) * som / r["b"][k]          # elbo.phi
        x_t = [sab * x0[i, j].item() + som * (0.6 * noise[i, j].item() + r["psi"][k] * xi[i, j].item())
               for j in range(3)]
        eta = [0.6 * noise[i, j].item() + phi * xi[i, j].item() for j in range(3)]
        target = eta if pred == "eps" else [sab * eta[j] - som * x0[i, j].item() for j in range(3)]
        out = [sum(W[j, m].item() * x_t[m] for m in range(3)) for j in range(3)]
        err = sum((out[j] - target[j]) ** 2 for j in range(3)) / 3
        w = 1.0 if weight == "simple" else r["lam_kl"][k] * (1 if pred == "eps" else r["ab"][k])
        total += w * err
    assert loss.item() == pytest.approx(total / 4, rel=1e-10)


def test_targets_and_conversions_by_hand():
    x0, noise, xi, t, tb, r = loss_case("random")
    eta = target_eps(noise, xi, t, tb)
    v = v_from_eps(eta, x0, t, tb)
    for i, step in enumerate(t.tolist()):
        k = step - 1
        phi = tb.gamma[k].item() * math.sqrt(r["a"][k]) * math.sqrt(r["om"][k]) / r["b"][k]
        e = 0.6 * noise[i, 0].item() + phi * xi[i, 0].item()
        assert eta[i, 0].item() == pytest.approx(e, rel=1e-12)
        assert v[i, 0].item() == pytest.approx(math.sqrt(r["ab"][k]) * e - math.sqrt(r["om"][k]) * x0[i, 0].item(),
                                               rel=1e-12)


@pytest.mark.parametrize("which", ["balanced", "zero", "zero-snr"])
def test_eps_v_x0_round_trips(which):
    """With x_t = √ᾱ_t x_0 + √(1-ᾱ_t) η (ψ = ϕ): η → v → η, v → x_0, η → x_0 are exact at every t."""
    T = 100
    beta = rescale_zero_terminal_snr(make_beta("linear", T)) if which == "zero-snr" else make_beta("linear", T)
    tb = build_tables(beta, gamma="zero" if which == "zero-snr" else which)
    g = torch.Generator().manual_seed(1)
    t = torch.arange(1, T + 1)
    x0 = torch.randn(T, 5, generator=g, dtype=torch.float64)
    noise = torch.randn(T, 5, generator=g, dtype=torch.float64)
    xi = torch.randn(T, 5, generator=g, dtype=torch.float64)
    x_t = q_sample(x0, t, noise, xi, tb)
    eta = target_eps(noise, xi, t, tb)
    v = v_from_eps(eta, x0, t, tb)
    assert torch.allclose(eps_from_v(v, x_t, t, tb), eta, rtol=0, atol=1e-12)
    assert torch.allclose(x0_from_v(v, x_t, t, tb), x0, rtol=0, atol=1e-12)
    ok = tb.alpha_bar > 0
    assert torch.allclose(x0_from_eps(eta[ok], x_t[ok], t[ok], tb), x0[ok], rtol=0, atol=1e-9)
    assert torch.allclose(v_from_eps(eps_from_v(v, x_t, t, tb), x0_from_v(v, x_t, t, tb), t, tb), v, atol=1e-12)


# --- MMD² and its bandwidth on three against three points -------------------------------------------------

def test_mmd_by_hand():
    """X = {0, 1, 2}, Y = {4, 6, 7}: the 15 pooled distances 1,1,1,2,2,2,3,3,4,4,5,5,6,6,7 have median h = 3;
    k(d) = exp(-d²/(2h²)) = exp(-d²/18); unbiased MMD² = mean over i≠j of k within X and within Y minus
    twice the mean over all cross pairs."""
    x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[4.0], [6.0], [7.0]], dtype=torch.float64)

    def k(d):
        return math.exp(-d * d / 18)
    xx = 2 * (k(1) + k(2) + k(1)) / 6
    yy = 2 * (k(2) + k(3) + k(1)) / 6
    xy = (k(4) + k(6) + k(7) + k(3) + k(5) + k(6) + k(2) + k(4) + k(5)) / 9
    val, h = mmd(x, y)
    assert h == 3.0
    assert val == pytest.approx(xx + yy - 2 * xy, rel=1e-14)


def test_significant_digits():
    assert significant(0.123456789) == 0.1235 and significant(-2.5e-7) == -2.5e-07
    assert significant(123456.0) == 123500.0 and significant(0.0) == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        significant(float("nan"))
