"""The samplers' mechanics: `timesteps`, the steps at which `ancestral` and `ddim` call the model, their start
x_T ~ N(ξ, σ_0² I), the noise-free last step, each step's conditional variance, and `ddim_step`
[results 'posterior', 'elbo', 'ddim'].  Gaussian-data exactness is in tests/test_samplers_gaussian.py.

Samplers are tested through fake models that record what they receive (step and x).  Every Monte Carlo
assertion has false-alarm probability ≤ 1e-6 (tests/mc.py; Bonferroni over the sub-tests of one check);
the marginal check of `ddim_step` is shown to fail on a 1 % error in k.

What each group of tests checks, and what it fails under:
- timesteps_*: diffusers' spacings, 1-based, exactly `steps` distinct steps (off-by-one, arange overshoot);
- *_calls_the_model_*: ancestral at T, ..., 1; ddim at timesteps(T, steps, spacing) (a skipped/extra step);
- start_*, given_x_T_*: x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ): Var[L_avg] = σ_c² + σ_0²/n, ... (a start N(0, I));
- last_step_adds_no_noise: no randomness after the last model call (noise at t = 1, a skipped last step);
- *_step_variance: each step's residual variance is σ_t² (ancestral) or DDIM's std² (β_t for β̃_t; std²
  without its factor 1 - ᾱ_t/ᾱ_s);
- ddim_step_keeps_the_marginal_*: a jump keeps q(x_s | x_0, ξ), exact and Monte Carlo (a wrong k or std);
- ddim_step_coefficients_*: (k, std²) equal the generated `ddim_jump_coefs` (≤ 1e-12 relative).
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from gendiff import _reference as R
from gendiff.samplers import ancestral, ddim, ddim_step, timesteps
from gendiff.schedules import make_beta
from gendiff.tables import build_tables
from gendiff.xi import Brightness, Dirac, Gaussian, PerChannel
from tests.gaussian_model import abar_with_0, c_with_0, gaussian_setup, random_gamma
from tests.mc import ALPHA, CheckFailed, chi2_variance, gaussian_moments, linear_gaussian
from tests.strategies import betas

T64 = dict(dtype=torch.float64)
SPACINGS = ("trailing", "leading", "linspace")


class Recorder:
    """Wraps a model; records each call's step and input x (a copy); `hook(step)` runs after each call."""

    def __init__(self, model, hook=None):
        self.model, self.hook, self.steps, self.xs = model, hook, [], []

    def __call__(self, x, t):
        step = int(t[0])
        assert t.dtype == torch.long and t.shape == (x.shape[0],) and bool((t == step).all())
        self.steps.append(step)
        self.xs.append(x.clone())
        out = self.model(x, t)
        if self.hook is not None:
            self.hook(step)
        return out


def zeros_model(x, t):
    return torch.zeros_like(x)


def orthogonal_to_ones(n):
    """Orthonormal (n, n-1) basis of the subspace orthogonal to 1_n (within-sample deviations)."""
    g = torch.Generator().manual_seed(0)
    M = torch.cat([torch.ones(n, 1, **T64), torch.randn(n, n - 1, generator=g, **T64)], 1)
    return torch.linalg.qr(M)[0][:, 1:]


# ---- timesteps --------------------------------------------------------------------------------------

def diffusers_timesteps(T, S, spacing):
    """0-based k of diffusers 0.42's DDIMScheduler.set_timesteps (steps_offset = 0), Table 2 of Lin et al. 2024."""
    if spacing == "linspace":
        return np.linspace(0, T - 1, S).round()[::-1].copy().astype(np.int64)
    if spacing == "leading":
        return (np.arange(0, S) * (T // S)).round()[::-1].copy().astype(np.int64)
    return np.round(np.arange(T, 0, -T / S)).astype(np.int64) - 1


@settings(max_examples=300)
@given(st.integers(1, 1000), st.data(), st.sampled_from(SPACINGS))
def test_timesteps_follow_diffusers_spacings(T, data, spacing):
    S = data.draw(st.integers(1, T))
    ours = timesteps(T, S, spacing)
    ref = [int(k) + 1 for k in diffusers_timesteps(T, S, spacing)[:S]]   # diffusers' k is our t - 1
    assert all(a > b for a, b in zip(ours, ours[1:])) and 1 <= ours[-1]
    assert ours[0] == T                                         # every grid starts at T
    if ref[0] < T:                              # 'leading' (or 'linspace' with one step): T prepended, one more call
        assert spacing in ("leading", "linspace") and ours == [T] + ref
    else:
        assert ours == ref
    if len(diffusers_timesteps(T, S, spacing)) > S:   # diffusers' float arange overshoots by one entry k = -1
        assert spacing == "trailing" and diffusers_timesteps(T, S, spacing)[-1] == -1


def test_timesteps_examples():
    assert timesteps(1000, 10, "trailing") == list(range(1000, 0, -100))
    assert timesteps(1000, 10, "leading") == [1000] + list(range(901, 0, -100))
    assert timesteps(1000, 50, "leading", steps_offset=1) == [1000] + list(range(982, 1, -20))   # SD's 'leading'
    assert timesteps(1000, 10, "leading", steps_offset=99) == list(range(1000, 0, -100))        # already at T
    with pytest.raises(ValueError, match="steps_offset"):
        timesteps(1000, 10, "leading", steps_offset=100)
    assert timesteps(1000, 4, "linspace") == [1000, 667, 334, 1]
    assert timesteps(5, 5, "trailing") == timesteps(5, 5, "leading") == timesteps(5, 5, "linspace") == [5, 4, 3, 2, 1]
    for T, S in ((1000, 61), (15, 13)):                          # float arange overshoots here
        assert len(timesteps(T, S, "trailing")) == S and min(timesteps(T, S, "trailing")) >= 1
    for bad in (0, 11, True, 2.0):
        with pytest.raises(ValueError, match="steps must be"):
            timesteps(10, bad)
    with pytest.raises(ValueError, match="spacing"):
        timesteps(10, 2, "uniform")


# ---- which steps call the model -------------------------------------------------------------------

def test_ancestral_calls_the_model_at_T_down_to_1():
    for T in (1, 2, 17):
        tb = build_tables(make_beta("cosine", T), gamma="balanced")
        rec = Recorder(zeros_model)
        ancestral(rec, (3, 2), tb, Brightness(sigma_c=1.0), generator=torch.Generator().manual_seed(0))
        assert rec.steps == list(range(T, 0, -1))


@pytest.mark.parametrize("spacing", SPACINGS)
def test_ddim_calls_the_model_at_the_grid(spacing):
    for T, S in ((1000, 61), (1000, 50), (50, 7), (30, 30), (10, 1)):
        tb = build_tables(make_beta("linear", T), gamma="balanced")
        rec = Recorder(zeros_model)
        ddim(rec, (2, 3), tb, Brightness(sigma_c=1.0), steps=S, spacing=spacing, eta=0.5,
             generator=torch.Generator().manual_seed(0))
        ref = [int(k) + 1 for k in diffusers_timesteps(T, S, spacing)[:S]]
        assert rec.steps == timesteps(T, S, spacing) == ([T] + ref if ref[0] < T else ref)


# ---- the start x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ) --------------------------------------------------------

def first_input(sampler, family, shape, sigma0, seed, **kw):
    """The x the sampler hands to the model at its first call (x_T), from a short chain."""
    tb = build_tables(make_beta("cosine", 4), gamma="balanced", sigma0=sigma0)
    rec = Recorder(zeros_model)
    sampler(rec, shape, tb, family, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, **kw)
    return rec.xs[0]


SAMPLERS = {"ancestral": (ancestral, {}), "ddim": (ddim, dict(steps=2)), "ddim-eta1": (ddim, dict(steps=3, eta=1.0))}
N_START = 20000


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_start_brightness(name):
    """brightness ξ: L_avg(x_T) ~ N(0, σ_c² + σ_0²/n) (result 'brightness'), and the n-1 within-sample
    deviations are iid N(0, σ_0²).  Two exact χ² tests, ≤ 2e-6 together."""
    sampler, kw = SAMPLERS[name]
    n, sigma0, sigma_c = 6, 0.7, 1.5
    x = first_input(sampler, Brightness(sigma_c=sigma_c), (N_START, n), sigma0, 1, **kw)
    var = float(R.brightness_var_proposed(*(torch.tensor(v, **T64) for v in (float(n), sigma0, sigma_c))))
    chi2_variance(x.mean(1), var, what="Var[L_avg(x_T)] = σ_c² + σ_0²/n")
    chi2_variance(x @ orthogonal_to_ones(n), sigma0**2, what="within-sample deviations of x_T")


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_start_gaussian_xi_with_mean(name):
    """gaussian ξ ~ N(μ_ξ, Σ_ξ): x_T ~ N(μ_ξ, Σ_ξ + σ_0² I) (every mean and covariance entry, ≤ 1e-6)."""
    sampler, kw = SAMPLERS[name]
    n, sigma0 = 3, 0.8
    mx = torch.tensor([1.0, -0.5, 0.3], **T64)
    Sx = torch.tensor([[1.0, 0.6, 0.2], [0.6, 0.8, 0.1], [0.2, 0.1, 0.5]], **T64)
    x = first_input(sampler, Gaussian(mean=mx, cov=Sx), (N_START, n), sigma0, 2, **kw)
    gaussian_moments(x, mx, Sx + sigma0**2 * torch.eye(n, **T64), what="x_T, gaussian ξ")


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_start_per_channel_and_dirac(name):
    """per_channel ξ on (B, C, H, W): channel means ~ N(0, (σ_c² + σ_0²/(HW)) I_C) jointly (moments, ≤ 1e-6),
    deviations within a channel iid N(0, σ_0²) (χ², ≤ 1e-6); Dirac ξ: x_T ~ N(0, σ_0² I) (χ², ≤ 1e-6)."""
    sampler, kw = SAMPLERS[name]
    B, C, H, W, sigma0, sigma_c = 5000, 3, 2, 3, 0.6, 1.2
    x = first_input(sampler, PerChannel(sigma_c=sigma_c), (B, C, H, W), sigma0, 3, **kw)
    means = x.mean(dim=(2, 3))
    gaussian_moments(means, torch.zeros(C, **T64), (sigma_c**2 + sigma0**2 / (H * W)) * torch.eye(C, **T64),
                     what="per-channel brightness of x_T")
    chi2_variance(x.reshape(B, C, H * W) @ orthogonal_to_ones(H * W), sigma0**2, what="within-channel deviations")
    x = first_input(sampler, Dirac(), (N_START, 2), sigma0, 4, **kw)
    chi2_variance(x, sigma0**2, what="x_T, Dirac ξ")


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_given_x_T_is_the_start(name):
    sampler, kw = SAMPLERS[name]
    tb = build_tables(make_beta("cosine", 4), gamma="balanced")
    x_T = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), **T64)
    rec = Recorder(zeros_model)
    sampler(rec, (5, 3), tb, Brightness(sigma_c=1.0), dtype=torch.float64, x_T=x_T, **kw)
    assert torch.equal(rec.xs[0], x_T)
    with pytest.raises(ValueError, match="x_T has shape"):
        sampler(rec, (4, 3), tb, Brightness(sigma_c=1.0), dtype=torch.float64, x_T=x_T, **kw)


# ---- the last step adds no noise -------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLERS))
def test_last_step_adds_no_noise(name):
    """Re-seeding the sampler's generator right after the last model call does not change the output, and
    the output is the deterministic function of the last state: x_1/√α_1 - β_1/(√α_1 √(1-ᾱ_1)) η̂ (ancestral,
    result 'elbo') or x̂_0 = E[x_0 | x_t] (DDIM's jump to s = 0)."""
    sampler, kw = SAMPLERS[name]
    tb, fam, model, _ = gaussian_setup()
    last = 1 if sampler is ancestral else timesteps(tb.T, kw["steps"])[-1]
    outs = []
    for reseed in (1, 2):
        gen = torch.Generator().manual_seed(0)
        rec = Recorder(model, hook=lambda step, gen=gen, k=reseed: gen.manual_seed(k) if step == last else None)
        outs.append(sampler(rec, (64, 3), tb, fam, generator=gen, dtype=torch.float64, **kw))
    assert torch.equal(outs[0], outs[1])
    x_last = rec.xs[-1]
    if sampler is ancestral:
        beta = tb.beta
        want = x_last / (1 - beta[0]).sqrt() - R.mu_eps_coef(beta)[0] * model.mean("eta", x_last, 1)
    else:
        want = model.mean("x0", x_last, last)
    torch.testing.assert_close(outs[0], want, rtol=0, atol=1e-11)


# ---- each step's conditional variance ---------------------------------------------------------------

N_STEP = 2000


@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_ancestral_step_variance(variance):
    """With an exact ε-network (a fixed function of x_t), x_{t-1} - μ(x_t) has variance σ_t² = σ_0² β̃_t
    ('beta_tilde', result 'posterior') or σ_0² β_t ('beta') at every t = T..2, with
    μ(x_t) = x_t/√α_t - β_t/(√α_t √(1-ᾱ_t)) η̂ (result 'elbo', for any γ); x_0 = μ(x_1) exactly.
    One exact χ² test per step (N·n draws), ≤ 1e-6 over all steps."""
    T, n, sigma0 = 20, 4, 0.8
    beta = make_beta("cosine", T)
    tb, fam, model, _ = gaussian_setup(n=n, T=T, sigma0=sigma0)
    tb = build_tables(beta, gamma=tb.gamma, sigma0=sigma0, variance=variance)
    rec = Recorder(model)
    x0 = ancestral(rec, (N_STEP, n), tb, fam, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    xs = {t: x for t, x in zip(range(T, 0, -1), rec.xs)} | {0: x0}
    want = R.posterior_var(beta, torch.tensor(sigma0, **T64)) if variance == "beta_tilde" else sigma0**2 * beta
    torch.testing.assert_close(tb.sigma2[1:], want[1:], rtol=1e-12, atol=0)        # the table's σ_t², t ≥ 2
    coef, alpha = R.mu_eps_coef(beta), 1 - beta
    for t in range(T, 0, -1):
        mean = xs[t] / alpha[t - 1].sqrt() - coef[t - 1] * model.mean("eta", xs[t], t)
        if t == 1:
            torch.testing.assert_close(xs[0], mean, rtol=0, atol=1e-11)
        else:
            chi2_variance(xs[t - 1] - mean, float(want[t - 1]), alpha=ALPHA / (T - 1), what=f"ancestral step t = {t}")


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_ddim_step_variance(eta):
    """With an exact network, each DDIM jump t → s of the grid has residual x_s - E[x_s | x_t] of variance
    std² of result 'ddim' (generated `ddim_jump_coefs`), the mean being √ᾱ_s x̂_0 + c_s ξ̂ + k(x_t - √ᾱ_t x̂_0
    - c_t ξ̂) with x̂_0, ξ̂ by direct conditioning; the jump to s = 0 is exact.  χ² per jump, ≤ 1e-6 in all."""
    T, n, sigma0, steps = 100, 4, 0.8, 10
    beta = make_beta("cosine", T)
    tb, fam, model, _ = gaussian_setup(n=n, T=T, sigma0=sigma0, pred="v")
    rec = Recorder(model)
    x0 = ddim(rec, (N_STEP, n), tb, fam, steps=steps, eta=eta, pred="v", generator=torch.Generator().manual_seed(6),
              dtype=torch.float64)
    grid = timesteps(T, steps)
    ab, c = abar_with_0(beta), c_with_0(beta, tb.gamma)
    s0, e = torch.tensor(sigma0, **T64), torch.tensor(eta, **T64)
    for i, t in enumerate(grid):
        s = grid[i + 1] if i + 1 < len(grid) else 0
        x_t, x_s = rec.xs[i], (rec.xs[i + 1] if s else x0)
        x0_hat, xi_hat = model.mean("x0", x_t, t), model.mean("xi", x_t, t)
        k, var = R.ddim_jump_coefs(ab[t], ab[s], s0, e)
        mean = ab[s].sqrt() * x0_hat + c[s] * xi_hat + k * (x_t - ab[t].sqrt() * x0_hat - c[t] * xi_hat)
        if s == 0:
            assert float(var) == 0.0
            torch.testing.assert_close(x_s, mean, rtol=0, atol=1e-10)
        else:
            chi2_variance(x_s - mean, float(var), alpha=ALPHA / (steps - 1), what=f"ddim jump {t} → {s}")


# ---- ddim_step keeps q(x_s | x_0, ξ) ----------------------------------------------------------------

def jump_moments(tb, beta, x0, xi, t, s, eta):
    """(mean, variance) of ddim_step's output given x_t ~ q(x_t | x_0, ξ) and (x̂_0, ξ̂) = (x_0, ξ): the step is
    affine in (x_t, noise), so its coefficients are read off by evaluating it at shifted inputs."""
    B = x0.shape[0]
    tt, ss = torch.full((B,), t), torch.full((B,), s)
    ab, c = abar_with_0(beta), c_with_0(beta, tb.gamma)
    m_t = ab[t].sqrt() * x0 + c[t] * xi
    zero = torch.zeros_like(x0)
    base = ddim_step(m_t, x0, xi, tt, ss, tb, eta=eta, noise=zero)
    k = ddim_step(m_t + 1, x0, xi, tt, ss, tb, eta=eta, noise=zero) - base
    std = ddim_step(m_t, x0, xi, tt, ss, tb, eta=eta, noise=zero + 1) - base
    return base, k**2 * tb.sigma0**2 * (1 - ab[t]) + std**2, (ab[s].sqrt() * x0 + c[s] * xi, tb.sigma0**2 * (1 - ab[s]))


@settings(max_examples=80)
@given(betas(max_T=400, min_T=2), st.floats(0.1, 3.0), st.sampled_from(["balanced", "random", "zero"]), st.data())
def test_ddim_step_keeps_the_marginal_exactly(beta, sigma0, gamma, data):
    """For fixed x_0, ξ and exact (x̂_0, ξ̂) = (x_0, ξ): E[x_s] = √ᾱ_s x_0 + c_s ξ and Var[x_s] = σ_0²(1-ᾱ_s)
    for x_t ~ q(x_t | x_0, ξ), every jump t → s < t and η ∈ [0, 1] (result 'ddim'), float64."""
    T = beta.shape[0]
    if gamma == "balanced" and float(torch.log1p(-beta).sum()) < -700:
        gamma = "zero"
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1)))
    gam = random_gamma(beta, g) if gamma == "random" else gamma
    tb = build_tables(beta, gamma=gam, sigma0=sigma0)
    t = data.draw(st.integers(1, T))
    s = data.draw(st.integers(0, t - 1))
    eta = data.draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    x0, xi = torch.randn(2, 3, generator=g, **T64), torch.randn(2, 3, generator=g, **T64)
    mean, var, (mean_q, var_q) = jump_moments(tb, beta, x0, xi, t, s, eta)
    scale = 1 + float(x0.abs().max() + xi.abs().max() * tb.c.abs().max())
    torch.testing.assert_close(mean, mean_q, rtol=0, atol=1e-12 * scale)
    torch.testing.assert_close(var, var_q.expand_as(var), rtol=1e-9, atol=1e-12 * sigma0**2)
    if s == 0:                              # the last jump returns x̂_0 with no noise
        assert torch.equal(var, torch.zeros_like(var))
        torch.testing.assert_close(mean, x0, rtol=0, atol=1e-12 * scale)


JUMP_MC = dict(T=100, n=4, sigma0=0.8, sigma_c=1.5)


def jump_check(t, s, eta, seed, *, N=20000, k_scale=1.0):
    """Monte Carlo: x_0 ~ N(0, 4I), ξ ~ brightness, x_t ~ q(x_t | x_0, ξ) (written from the reference); the jump
    with (x̂_0, ξ̂) = (x_0, ξ) regressed on (x_0, ξ) has coefficients (√ᾱ_s, c_s) and residual variance
    σ_0²(1-ᾱ_s) (exact χ² tests, ≤ 1e-6).  k_scale perturbs the jump's x_t-coefficient (power)."""
    T, n, sigma0 = JUMP_MC["T"], JUMP_MC["n"], JUMP_MC["sigma0"]
    beta = make_beta("cosine", T)
    g = torch.Generator().manual_seed(seed)
    tb = build_tables(beta, gamma=random_gamma(beta, g), sigma0=sigma0)
    ab, c = abar_with_0(beta), c_with_0(beta, tb.gamma)
    x0 = 2 * torch.randn(N, n, generator=g, **T64)
    xi = Brightness(sigma_c=JUMP_MC["sigma_c"]).sample((N, n), generator=g, dtype=torch.float64)
    x_t = ab[t].sqrt() * x0 + c[t] * xi + sigma0 * (1 - ab[t]).sqrt() * torch.randn(N, n, generator=g, **T64)
    tt, ss = torch.full((N,), t), torch.full((N,), s)
    x_s = ddim_step(x_t, x0, xi, tt, ss, tb, eta=eta, noise=torch.randn(N, n, generator=g, **T64))
    if k_scale != 1.0:
        k = ddim_step(torch.ones(1, 1, **T64), torch.zeros(1, 1, **T64), torch.zeros(1, 1, **T64), tt[:1], ss[:1], tb,
                      eta=eta, noise=torch.zeros(1, 1, **T64))
        x_s = x_s + (k_scale - 1) * k * (x_t - ab[t].sqrt() * x0 - c[t] * xi)
    X = torch.stack([x0.reshape(-1), xi.reshape(-1)], 1)
    return linear_gaussian(x_s, X, [float(ab[s].sqrt()), float(c[s])], float(sigma0**2 * (1 - ab[s])),
                           what=f"ddim_step {t} → {s}, η = {eta}")


@pytest.mark.parametrize("t,s,eta", [(80, 30, 0.0), (80, 30, 0.5), (50, 49, 1.0), (100, 1, 0.3)])
def test_ddim_step_keeps_the_marginal_monte_carlo(t, s, eta):
    jump_check(t, s, eta, seed=t + s)


def test_ddim_step_marginal_check_detects_one_percent_k_error():
    with pytest.raises(CheckFailed):
        jump_check(80, 30, 0.5, seed=11, N=100000, k_scale=1.01)


@settings(max_examples=150)
@given(betas(max_T=1000, min_T=2), st.floats(0.05, 5.0), st.data())
def test_ddim_step_coefficients_equal_reference(beta, sigma0, data):
    """k and std² of ddim_step equal the generated `ddim_jump_coefs` (≤ 1e-12 relative; where 1 - ᾱ_t/ᾱ_s or
    1 - ᾱ_s is below 1e-4, the reference's own rounding of 1 - ᾱ (it takes ᾱ, not log ᾱ) sets the scale)."""
    T = beta.shape[0]
    t = data.draw(st.integers(1, T))
    s = data.draw(st.integers(0, t - 1))
    eta = data.draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    tb = build_tables(beta, gamma="zero", sigma0=sigma0)
    one, zero = torch.ones(1, 1, **T64), torch.zeros(1, 1, **T64)
    tt, ss = torch.tensor([t]), torch.tensor([s])
    k = float(ddim_step(one, zero, zero, tt, ss, tb, eta=eta, noise=zero))
    std = float(ddim_step(zero, zero, zero, tt, ss, tb, eta=eta, noise=one))
    ab = abar_with_0(beta)
    k_ref, var_ref = R.ddim_jump_coefs(ab[t], ab[s], torch.tensor(sigma0, **T64), torch.tensor(eta, **T64))
    cond = 1.0 + 1e-16 / min(float(1 - ab[t] / ab[s]), float(1 - ab[s]) if s else 1.0) / 1e-12
    assert abs(k - float(k_ref)) <= 1e-12 * cond * abs(float(k_ref)) + 1e-300, (k, float(k_ref))
    assert abs(std**2 - float(var_ref)) <= 1e-12 * cond * abs(float(var_ref)) + 1e-300, (std**2, float(var_ref))


def test_ddim_step_refuses_bad_jumps():
    tb = build_tables(make_beta("linear", 10), gamma="zero")
    x = torch.zeros(1, 2, **T64)
    for t, s in ((3, 3), (3, 4), (3, -1)):
        with pytest.raises(ValueError, match="jump"):
            ddim_step(x, x, x, torch.tensor([t]), torch.tensor([s]), tb)
    with pytest.raises(ValueError, match="eta"):
        ddim_step(x, x, x, torch.tensor([3]), torch.tensor([1]), tb, eta=1.5)
    with pytest.raises(ValueError, match="noise"):
        ddim_step(x, x, x, torch.tensor([3]), torch.tensor([1]), tb, eta=0.5)
