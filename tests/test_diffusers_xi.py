"""The ξ-path of the diffusers schedulers (ξ ≠ 0), each against a known answer or an independent route.

- add_noise, get_target (ε, v, sample), get_velocity: against the generated reference (gendiff._reference:
  ψ_t, ϕ_t from β and γ by the proved recursions, v_def), σ_0 ≠ 1 and a custom γ (ψ_t ≠ ϕ_t) included.
- step (DDPM; DDIM at η = 0 and η > 0): driven by the exact Gaussian-data oracle (joint-Gaussian conditioning,
  gendiff.experiments.oracle), pred_original_sample is E[x_0 | x_t] and prev_sample is the core jump
  gendiff.samplers.ddim_step at (E[x_0 | x_t], E[ξ | x_t]); DDPM's one-step jump is the posterior mean
  A_t x̂_0 + B_t x_t + C_t ξ̂ (result 'posterior' tables) plus σ_0 √β̃_t z.  A step with ξ̂ = 0 fails these.
- GeneralizedDDIMScheduler with the exact oracle reproduces the data's per-channel brightness variance:
  the chain is linear in x_T, so its exact law follows from pushing the covariance of x_T through it; that
  variance is within 2 % of the data's (a deterministic check), and Monte Carlo channel means pass the exact
  χ² test against it (tests/mc.py, false-alarm probability ≤ 1e-6); the stock update (ξ̂ = 0) fails both.
"""
import functools

import pytest
import torch

pytest.importorskip("diffusers")

from gendiff import _reference as R  # noqa: E402
from gendiff.experiments.oracle import GaussianOracle  # noqa: E402
from gendiff.integrations.diffusers import GeneralizedDDIMScheduler, GeneralizedDDPMScheduler  # noqa: E402
from gendiff.samplers import ddim_step  # noqa: E402
from tests.mc import CheckFailed, chi2_variance  # noqa: E402

F64 = dict(dtype=torch.float64)
SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
SHAPE = (6, 2, 2, 2)                              # (B, C, H, W): n = 8 components, m = 4 per channel


pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


def custom_gamma(T=1000, seed=5):
    return (0.02 * torch.rand(T, generator=torch.Generator().manual_seed(seed), **F64)).tolist()


def configs():
    """(id, kwargs): per_channel and brightness, balanced (ψ = ϕ) and a custom γ (ψ ≠ ϕ), σ_0 ≠ 1."""
    return [("per_channel-balanced", dict(xi_family="per_channel", sigma_c=0.8, sigma0=0.9)),
            ("brightness-balanced", dict(xi_family="brightness", sigma_c=0.6, sigma0=1.1)),
            ("per_channel-custom", dict(xi_family="per_channel", sigma_c=0.7, sigma0=0.9, gamma=custom_gamma())),
            ("brightness-custom", dict(xi_family="brightness", sigma_c=0.5, sigma0=1.0, gamma=custom_gamma(seed=6)))]


CONFIGS = dict(configs())


def ref_tables(sched):
    """(ψ, ϕ) from β and γ by the generated reference (the proved formulas, not the tables module)."""
    beta = sched.tables.beta
    gam = R.balanced_gamma(beta) if sched.config.gamma == "balanced" else torch.tensor(sched.config.gamma, **F64)
    return R.psi(beta, gam), R.phi(beta, gam)


def inputs(seed, sched, shape=SHAPE):
    g = torch.Generator().manual_seed(seed)
    x0, noise = torch.randn(shape, generator=g, **F64), torch.randn(shape, generator=g, **F64)
    xi = sched.sample_xi(shape, generator=g, dtype=torch.float64)
    k = torch.tensor([0, 1, 250, 500, 998, 999][: shape[0]])
    return x0, noise, xi, k


def col(v, k):
    return v[k].reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_training_side_against_the_reference(cfg):
    sched = GeneralizedDDPMScheduler(**CONFIGS[cfg], **SD)
    x0, noise, xi, k = inputs(1, sched)
    psi, phi = ref_tables(sched)
    ab = sched.tables.alpha_bar
    s0 = sched.config.sigma0
    x_t = col(ab, k).sqrt() * x0 + (1 - col(ab, k)).sqrt() * (s0 * noise + col(psi, k) * xi)
    assert torch.allclose(sched.add_noise(x0, noise, k, xi), x_t, rtol=0, atol=1e-12)
    eta = s0 * noise + col(phi, k) * xi
    target = sched.get_target(x0, noise, xi, k)
    assert torch.allclose(target, eta, rtol=0, atol=1e-12)
    assert (target - noise).abs().max() > 0.05                   # a get_target returning `noise` fails here
    v = R.v_def(eta, x0, col(ab, k))
    assert torch.allclose(sched.get_velocity(x0, noise, k, xi), v, rtol=0, atol=1e-12)
    vs = GeneralizedDDPMScheduler(**CONFIGS[cfg], **SD, prediction_type="v_prediction")
    assert torch.allclose(vs.get_target(x0, noise, xi, k), v, rtol=0, atol=1e-12)
    assert (v - eta).abs().max() > 0.05                           # v and ε targets differ: the branch matters
    xs = GeneralizedDDPMScheduler(**CONFIGS[cfg], **SD, prediction_type="sample")
    assert torch.equal(xs.get_target(x0, noise, xi, k), x0)


def flat_oracle(sched, shape, pred, seed=0):
    """The exact Gaussian-data oracle for x_0 ~ N(μ, Σ) on the flattened pixels, with ξ's covariance of the
    scheduler's family; returns (model(x, k) on image tensors, oracle)."""
    B, C, H, W = shape
    n, m = C * H * W, H * W
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, **F64)
    mu, S = 0.3 * torch.randn(n, generator=g, **F64), A @ A.T / n + 0.05 * torch.eye(n, **F64)
    sc2 = sched.config.sigma_c ** 2
    blocks = torch.block_diag(*[torch.ones(m, m, **F64)] * C) if sched.config.xi_family == "per_channel" \
        else torch.ones(n, n, **F64)
    orc = GaussianOracle(mu, S, sc2 * blocks, sched.tables, pred="eps" if pred == "sample" else pred)

    def model(x, k):
        t = torch.full((x.shape[0],), int(k) + 1)
        if pred == "sample":
            return orc.conditional_means(x.flatten(1), int(t[0]))[1].reshape(x.shape)
        return orc(x.flatten(1), t).reshape(x.shape)
    return model, orc


def oracle_means(orc, x, k):
    _, x0, xi, _, _ = orc.conditional_means(x.flatten(1), int(k) + 1)
    return x0.reshape(x.shape), xi.reshape(x.shape)


@pytest.mark.parametrize("pred", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_ddim_step_against_the_oracle(cfg, pred):
    """η = 0 and η = 0.6, on and off the grid: the jump of ddim_step at the oracle's (E[x_0|x_t], E[ξ|x_t])."""
    sched = GeneralizedDDIMScheduler(**CONFIGS[cfg], **SD, prediction_type=pred)
    sched.set_timesteps(10)
    model, orc = flat_oracle(sched, SHAPE, {"epsilon": "eps", "v_prediction": "v"}.get(pred, "sample"))
    g = torch.Generator().manual_seed(2)
    for k, s, eta in ((999, 900, 0.0), (499, 400, 0.6), (99, 0, 0.6), (333, 234, 0.0)):   # 333: off the grid
        x = 2.0 * torch.randn(SHAPE, generator=g, **F64)
        z = torch.randn(SHAPE, generator=g, **F64)
        out = sched.step(model(x, k), k, x, eta=eta, variance_noise=z)
        x0, xi = oracle_means(orc, x, k)
        assert torch.allclose(out.pred_original_sample, x0, rtol=0, atol=1e-9), (k, "x̂_0")
        tt, ss = torch.full((SHAPE[0],), k + 1), torch.full((SHAPE[0],), s)
        ref = ddim_step(x, x0, xi, tt, ss, sched.tables, eta=eta, noise=z)
        assert torch.allclose(out.prev_sample, ref, rtol=0, atol=1e-9), (k, "x_s")
        stock_like = ddim_step(x, x0, torch.zeros_like(xi), tt, ss, sched.tables, eta=eta, noise=z)
        if s > 0:                                   # the last jump to x_0 has ξ̂-coefficient c_0 − k c_t = 0
            assert (stock_like - ref).abs().max() > 1e-3, "ξ̂ must matter here for the check to have power"


@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_ddpm_step_is_the_posterior_mean_plus_noise(cfg):
    """Without set_timesteps DDPM steps t → t-1: mean A_t x̂_0 + B_t x_t + C_t ξ̂ (posterior tables, an
    independent route to the jump's coefficients), std σ_0 √β̃_t; the same with 'fixed_large' (σ_0 √β_t)."""
    for vt, var in (("fixed_small", "post_var"), ("fixed_large", "beta")):
        sched = GeneralizedDDPMScheduler(**CONFIGS[cfg], **SD, variance_type=vt)
        model, orc = flat_oracle(sched, SHAPE, "eps")
        tb = sched.tables
        g = torch.Generator().manual_seed(3)
        for k in (999, 500, 1):
            x = 2.0 * torch.randn(SHAPE, generator=g, **F64)
            out = sched.step(model(x, k), k, x, generator=torch.Generator().manual_seed(k))
            z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(k), **F64)
            x0, xi = oracle_means(orc, x, k)
            mean = tb.post_coef_x0[k] * x0 + tb.post_coef_xt[k] * x + tb.post_coef_xi[k] * xi
            v = tb.post_var[k] if var == "post_var" else tb.sigma0 ** 2 * tb.beta[k]
            assert torch.allclose(out.prev_sample, mean + v.sqrt() * z, rtol=0, atol=1e-9), (vt, k)
            assert torch.allclose(out.pred_original_sample, x0, rtol=0, atol=1e-9)
        x = torch.randn(SHAPE, generator=g, **F64)
        assert torch.allclose(sched.step(model(x, 0), 0, x).prev_sample, oracle_means(orc, x, 0)[0], atol=1e-9)


# --- the per-channel brightness law -------------------------------------------------------------------

LAW = dict(C=2, H=2, W=2, lam=0.3, pix=0.04, steps=500)     # data: x_0 = u_c 1 + e, u_c ~ N(0, λ), e ~ N(0, pix)


def brightness_oracle(sched):
    C, m = LAW["C"], LAW["H"] * LAW["W"]
    blocks = torch.block_diag(*[torch.ones(m, m, **F64)] * C)
    S = LAW["lam"] * blocks + LAW["pix"] * torch.eye(C * m, **F64)
    orc = GaussianOracle(torch.zeros(C * m, **F64), S, sched.config.sigma_c ** 2 * blocks, sched.tables)
    return lambda x, k: orc(x.flatten(1), torch.full((x.shape[0],), int(k) + 1)).reshape(x.shape)


def run_chain(sched, model, x, stock_update=False):
    sched.set_timesteps(LAW["steps"])
    for k in sched.timesteps:
        if stock_update:
            sched._fam = None                       # ξ̂ = 0: the stock DDIM update
        x = sched.step(model(x, k), k, x).prev_sample
    return x


def law_scheduler():
    return GeneralizedDDIMScheduler(xi_family="per_channel", sigma_c=1.0)          # linear β, T = 1000


@functools.lru_cache(maxsize=None)
def chain_variance(stock_update=False):
    """Exact variance of a channel mean of the output: the chain is linear in x_T (η = 0, affine oracle with
    μ = 0), so push the covariance of x_T = ξ + σ_0 ε through it on the n unit vectors."""
    sched = law_scheduler()
    C, m = LAW["C"], LAW["H"] * LAW["W"]
    n = C * m
    basis = torch.eye(n, **F64).reshape(n, C, LAW["H"], LAW["W"])
    A = run_chain(sched, brightness_oracle(sched), basis, stock_update).reshape(n, n).T     # output = A x_T
    blocks = torch.block_diag(*[torch.ones(m, m, **F64)] * C)
    cov_T = sched.config.sigma_c ** 2 * blocks + sched.config.sigma0 ** 2 * torch.eye(n, **F64)
    w = torch.zeros(n, **F64)
    w[:m] = 1 / m                                   # channel 0's mean
    return float(w @ A @ cov_T @ A.T @ w)


def data_variance():
    return LAW["lam"] + LAW["pix"] / (LAW["H"] * LAW["W"])


def sample_channel_means(seed, stock_update=False, N=3000):
    sched = law_scheduler()
    shape = (N, LAW["C"], LAW["H"], LAW["W"])
    x = sched.initial_latents(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return run_chain(sched, brightness_oracle(sched), x, stock_update).mean((2, 3))


def test_chain_law_is_the_data_law():
    """The exact law of the 500-step chain has the data's channel-mean variance within 2 % (measured 1.4 %:
    DDIM's discretisation; 1000 steps: 0.7 %), while the stock update (ξ̂ = 0) gives 5× the variance."""
    v, v0, vd = chain_variance(), chain_variance(stock_update=True), data_variance()
    assert abs(v / vd - 1) < 0.02, (v, vd)
    assert v0 / vd > 3, (v0, vd)


def test_mc_ddim_reproduces_the_per_channel_brightness_law():
    """χ² of the channel means (2 × 3000 iid N(0, v)) against the chain's exact v; power: ξ̂ = 0 fails."""
    v = chain_variance()
    chi2_variance(sample_channel_means(21), v, what="channel means, generalized DDIM")
    with pytest.raises(CheckFailed):
        chi2_variance(sample_channel_means(22, stock_update=True), v, what="channel means, ξ̂ = 0")
