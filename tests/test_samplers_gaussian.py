"""The samplers on Gaussian data, where every reverse marginal is known in closed form [results 'ddim',
'ddim_ode', 'posterior', 'xi_posterior'].

With the exact network (tests/gaussian_model.py: direct joint-Gaussian conditioning, independent of gendiff's
estimates and oracles) every step is affine in x_t, so the deterministic DDIM map and the moments of the
ancestral chain are computed exactly in float64; Monte Carlo checks compare the samplers' draws with them
(false-alarm probability ≤ 1e-6 each, tests/mc.py).  Each check is shown to fail on the error it guards against.

What each group of tests checks, and what it fails under:
- ddim_full_grid_reproduces_*: DDIM with steps = T keeps the mean exactly and reaches Σ at the O(1/T) rate of
  the probability-flow ODE (K_t off by 1 %, ξ̂ = 0);
- ddim_full_grid_samples_*: the sampler's own draws follow its affine map (a wrong start);
- ancestral_random_gamma_*: ancestral is exact for any γ, ψ_t ≠ ϕ_t, C_t ≠ 0 (ξ̂ dropped for a v-network);
- eps_and_v_networks_*: ε- and v-networks give the same samples (the ψ_t = ϕ_t conversions);
- zero_terminal_snr_*: v-prediction DDIM at ᾱ_T = 0 on a rescaled schedule (NaN at t = T).
"""
import pytest
import torch

from gendiff import _reference as R
from gendiff.experiments.oracle import GaussianOracle
from gendiff.methods import make_method
from gendiff.samplers import ancestral, ddim
from gendiff.schedules import rescale_zero_terminal_snr
from gendiff.tables import build_tables
from gendiff.xi import Brightness, Dirac, Gaussian, XiFamily
from tests.gaussian_model import (GaussianModel, data_moments, gaussian_setup, random_gamma, scaled_linear_beta,
                                  smooth_gamma)
from tests.mc import CheckFailed, gaussian_moments

T64 = dict(dtype=torch.float64)


class ScaledPosterior(XiFamily):
    """q(ξ) whose E[ξ | x_t] is scaled by `factor` (a 1 % error in K_t when μ_ξ = 0); sampling unchanged."""

    def __init__(self, family, factor):
        self.family, self.factor, self.name = family, factor, family.name

    def sample(self, shape, **kw):
        return self.family.sample(shape, **kw)

    def posterior_mean(self, e, psi, sigma0, d=0.0):
        return self.factor * self.family.posterior_mean(e, psi, sigma0, d)


# ---- deterministic DDIM on the full grid reproduces Gaussian data -----------------------------------

FULL_GRID_TS = (50, 100, 200)
FULL_GRID_TOL = 2e-3    # extrapolated covariance error / max|Σ|: ≤ 4.1e-4 measured; a 1 % K_t error gives ≥ 4.5e-3


def full_grid_pushforward(T, config, *, factor=1.0, stock=False):
    """DDIM with steps = T is an affine map x_T ↦ M x_T + b for Gaussian data (the exact network is affine);
    M, b are read off by running it on x_T = 0, e_1, ..., e_n.  Returns (b + M m_q, M C_q Mᵀ) for the moments
    (m_q, C_q) of q(x_T), and the map."""
    n, sigma0 = 4, 0.8
    beta = scaled_linear_beta(T)
    gam = "balanced" if config["gamma"] == "balanced" else smooth_gamma(beta)
    tb = build_tables(beta, gamma=gam, sigma0=sigma0)
    fam = config["family"]
    mx, Sx = fam.mean(n), fam.cov(n)
    mu, S = data_moments(n)
    model = GaussianModel(mu, S, mx, Sx, beta, tb.gamma, sigma0, pred=config["pred"])
    x_T = torch.cat([torch.zeros(1, n, **T64), torch.eye(n, **T64)])
    out = ddim(model, (n + 1, n), tb, ScaledPosterior(fam, factor), steps=T, pred=config["pred"], rule="ddim",
               dtype=torch.float64,
               x_T=x_T, stock_update=stock)
    b, M = out[0], (out[1:] - out[0]).T
    ab, cT = tb.alpha_bar[-1], tb.c[-1]
    m_q = ab.sqrt() * mu + cT * mx
    C_q = ab * S + cT**2 * Sx + sigma0**2 * (1 - ab) * torch.eye(n, **T64)
    return b + M @ m_q, M @ C_q @ M.T, (M, b, tb, fam, model)


FULL_GRID = {
    "balanced-brightness-eps": dict(gamma="balanced", family=Brightness(sigma_c=1.0), pred="eps"),
    "smooth-gamma-brightness-v": dict(gamma="smooth", family=Brightness(sigma_c=1.0), pred="v"),
    "balanced-gaussian-mean-v": dict(gamma="balanced", pred="v", family=Gaussian(
        mean=torch.full((4,), 0.7, **T64), cov=torch.ones(4, 4, **T64) + 0.1 * torch.eye(4, **T64))),
}


def full_grid_errors(config, **kw):
    """(max |mean - μ| per T, relative covariance error per T, relative error of the extrapolated covariance)."""
    mu, S = data_moments(4)
    res = {T: full_grid_pushforward(T, config, **kw)[:2] for T in FULL_GRID_TS}
    rel = {T: float((C - S).abs().max() / S.abs().max()) for T, (_, C) in res.items()}
    C_ext = (8 * res[200][1] - 6 * res[100][1] + res[50][1]) / 3
    return ({T: float((m - mu).abs().max()) for T, (m, _) in res.items()}, rel,
            float((C_ext - S).abs().max() / S.abs().max()))


@pytest.mark.parametrize("name", list(FULL_GRID))
def test_ddim_full_grid_reproduces_gaussian_data(name):
    """Deterministic DDIM on the full grid (steps = T, float64) with the exact network, started from q(x_T):
    - the mean is exact for every T: each jump is affine and keeps E[x_s] (result 'ddim'), so b + M m_q = μ;
    - the covariance carries the first-order error of the probability-flow ODE integrator (result 'ddim_ode'):
      relative error ≤ 8/T, and C(T) = Σ + A/T + B/T² + O(T⁻³) on one continuous schedule (β from 0.1/T to
      20/T), so the Richardson extrapolation (8 C(200) - 6 C(100) + C(50))/3 matches Σ within 2e-3."""
    mean_err, rel, ext = full_grid_errors(FULL_GRID[name])
    assert max(mean_err.values()) <= 1e-9, mean_err
    assert all(rel[T] <= 8 / T for T in FULL_GRID_TS), rel
    assert rel[50] > rel[100] > rel[200], rel                     # it converges
    assert ext <= FULL_GRID_TOL, ext


@pytest.mark.parametrize("error", ["K+1%", "K-1%", "stock"])
@pytest.mark.parametrize("name", ["balanced-brightness-eps", "smooth-gamma-brightness-v"])
def test_ddim_full_grid_check_detects_xi_errors(name, error):
    """The same check fails when E[ξ | x_t] is off by 1 % (ξ̂ scaled by 1.01 or 0.99, i.e. K_t off by 1 % as
    μ_ξ = 0: extrapolated error ≥ 4.5e-3, against ≤ 4.1e-4 for the exact ξ̂) or is replaced by 0 (stock_update)."""
    kw = {"K+1%": dict(factor=1.01), "K-1%": dict(factor=0.99), "stock": dict(stock=True)}[error]
    _, _, ext = full_grid_errors(FULL_GRID[name], **kw)
    assert ext > 2 * FULL_GRID_TOL, ext


def test_ddim_full_grid_mean_check_detects_scaled_xi():
    """For ξ with a mean (μ_ξ = 0.7·1), ξ̂ scaled by 1.01 moves the output mean by ≈ 1e-2 (exact check: ≤ 1e-9)."""
    mean_err, _, _ = full_grid_errors(FULL_GRID["balanced-gaussian-mean-v"], factor=1.01)
    assert min(mean_err.values()) > 1e-3, mean_err


def test_ddim_full_grid_samples_follow_the_pushforward():
    """The sampler's own draws (x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ), seeded) have the moments of the affine map applied
    to that start (every mean and covariance entry, ≤ 1e-6); the start differs from q(x_T) by O(√ᾱ_T)."""
    N, T = 20000, 50
    _, _, (M, b, tb, fam, model) = full_grid_pushforward(T, FULL_GRID["balanced-gaussian-mean-v"])
    x = ddim(model, (N, 4), tb, fam, steps=T, pred="v", rule="ddim", dtype=torch.float64,
             generator=torch.Generator().manual_seed(8))
    C_start = fam.cov(4) + tb.sigma0**2 * torch.eye(4, **T64)
    gaussian_moments(x, b + M @ fam.mean(4), M @ C_start @ M.T, what="ddim samples vs its affine map")


# ---- ancestral is exact for any γ ------------------------------------------------------------------

def ancestral_moments(model, beta, gamma, sigma0, start, *, drop_xi=False):
    """Mean and covariance of x_0 from the chain x_{t-1} = A_t x̂_0 + B_t x_t + C_t ξ̂ + σ_t z (σ_t² = σ_0² β̃_t,
    none at t = 1), with x̂_0, ξ̂ the exact conditional means (affine in x_t), propagated exactly from the
    start (m, P).  drop_xi: what the sampler computes from a v-network when handed ξ̂ = 0 (x̂_0 = a x_t - s v̂)."""
    m, P = start
    n = m.shape[0]
    eye = torch.eye(n, **T64)
    A, Bc, C = R.posterior_coef_x0(beta), R.posterior_coef_xt(beta), R.posterior_coef_xi(beta, gamma)
    var = R.posterior_var(beta, torch.tensor(sigma0, **T64))
    ab = torch.exp(R.log_alpha_bar(beta))
    for t in range(beta.shape[0], 0, -1):
        i = t - 1
        mean_x, g = model.gains(t)
        (m0, G0), (mx, Gxi) = g["x0"], g["xi"]
        if drop_xi:                         # x̂_0 = a x_t - s v̂ with the exact v̂, ξ̂ = 0
            (mv, Gv), a, s = g["v"], ab[i].sqrt(), (1 - ab[i]).sqrt()
            m0, G0 = a * mean_x - s * mv, a * eye - s * Gv
            mx, Gxi = torch.zeros(n, **T64), torch.zeros(n, n, **T64)
        L = A[i] * G0 + Bc[i] * eye + C[i] * Gxi
        m = A[i] * m0 + Bc[i] * mean_x + C[i] * mx + L @ (m - mean_x)
        P = L @ P @ L.T + (var[i] * eye if t > 1 else 0)
    return m, P


def ancestral_random_gamma(pred, *, drop_xi=False, N=20000, T=200, seed=9):
    n, sigma0 = 4, 0.8
    beta = scaled_linear_beta(T)
    g = torch.Generator().manual_seed(seed)
    gam = random_gamma(beta, g)
    tb = build_tables(beta, gamma=gam, sigma0=sigma0)
    fam = Brightness(sigma_c=1.5)
    mu, S = data_moments(n)
    model = GaussianModel(mu, S, fam.mean(n), fam.cov(n), beta, gam, sigma0, pred=pred)
    start = (fam.mean(n), fam.cov(n) + sigma0**2 * torch.eye(n, **T64))       # the sampler's x_T
    m, P = ancestral_moments(model, beta, gam, sigma0, start)
    gen = torch.Generator().manual_seed(seed)
    x_T = fam.sample((N, n), generator=gen, dtype=torch.float64) + sigma0 * torch.randn(N, n, generator=gen, **T64)
    post = Dirac() if drop_xi else fam
    x = ancestral(model, (N, n), tb, post, pred=pred, generator=gen, dtype=torch.float64, x_T=x_T)
    return x, (m, P), (mu, S), (model, beta, gam, sigma0, start)


@pytest.mark.parametrize("pred", ["eps", "v"])
def test_ancestral_random_gamma_is_exact(pred):
    """Random γ (ψ_t ≠ ϕ_t, C_t ≠ 0), Gaussian data, exact network: the samples have the moments of the exact
    chain from the sampler's start (≤ 1e-6); started from q(x_T) instead, that chain has the data's mean exactly
    (each step keeps E[x_{t-1}], result 'posterior') and its covariance within 10/T (the O(1/T) error of a
    reverse step with variance σ_0² β̃_t); the two starts differ by O(√ᾱ_T) = O(5e-3)."""
    T = 200
    x, (m, P), (mu, S), (model, beta, gam, sigma0, _) = ancestral_random_gamma(pred, T=T)
    gaussian_moments(x, m, P, what=f"ancestral, random γ, {pred}")
    ab, c = torch.exp(R.log_alpha_bar(beta))[-1], R.c(beta, gam)[-1]
    Sx = model.Sx
    q_T = (ab.sqrt() * mu + c * model.mx, ab * S + c**2 * Sx + sigma0**2 * (1 - ab) * torch.eye(4, **T64))
    m_q, P_q = ancestral_moments(model, beta, gam, sigma0, q_T)
    assert float((m_q - mu).abs().max()) <= 1e-9
    assert float((P_q - S).abs().max() / S.abs().max()) <= 10 / T


def test_ancestral_random_gamma_detects_dropped_xi():
    """A v-network handed ξ̂ = 0 (Dirac posterior family, explicit x_T) loses C_t ξ̂ and the ξ̂-terms of x̂_0:
    the same Monte Carlo check fails.  (For an ε-network the step is x_t/√α_t - β_t/(√α_t √(1-ᾱ_t)) η̂ + σ_t z for
    every ξ̂, so there ξ̂ = 0 changes nothing: checked exactly.)"""
    x, (m, P), _, (model, beta, gam, sigma0, start) = ancestral_random_gamma("v", drop_xi=True)
    with pytest.raises(CheckFailed):
        gaussian_moments(x, m, P, what="ancestral, random γ, ξ̂ dropped")
    m_drop, P_drop = ancestral_moments(model, beta, gam, sigma0, start, drop_xi=True)
    gaussian_moments(x, m_drop, P_drop, what="ancestral, random γ, ξ̂ dropped, its own moments")
    x_eps, *_ = ancestral_random_gamma("eps", N=500)
    x_eps_drop, *_ = ancestral_random_gamma("eps", drop_xi=True, N=500)
    torch.testing.assert_close(x_eps_drop, x_eps, rtol=0, atol=1e-9)


# ---- ε- and v-networks agree --------------------------------------------------------------------------

@pytest.mark.parametrize("gamma", ["balanced", "random"])
@pytest.mark.parametrize("kind", ["ancestral", "ddim-trailing", "ddim-leading-eta0.5", "ddim-linspace-eta1"])
def test_eps_and_v_networks_give_the_same_samples(kind, gamma):
    """Exact ε- and v-networks give the same samples for every γ (same seeds; float64) [result 'xi_posterior'];
    handing both ξ̂ = 0 (Dirac posterior) separates them when ψ_t ≠ ϕ_t (negative control)."""
    T, n = 60, 3
    outs = {}
    for pred in ("eps", "v"):
        tb, fam, model, _ = gaussian_setup(n=n, T=T, gamma=gamma, pred=pred)
        for post in ("exact", "none"):
            xi_post = fam if post == "exact" else Dirac()
            gen = torch.Generator().manual_seed(4)
            x_T = fam.sample((256, n), generator=gen, dtype=torch.float64)
            x_T = x_T + tb.sigma0 * torch.randn(256, n, generator=gen, **T64)
            if kind == "ancestral":
                x = ancestral(model, (256, n), tb, xi_post, pred=pred, generator=gen, dtype=torch.float64, x_T=x_T)
            else:
                _, spacing, *eta = kind.split("-")
                x = ddim(model, (256, n), tb, xi_post, steps=12, spacing=spacing, eta=float(eta[0][3:]) if eta else 0.0,
                         pred=pred, generator=gen, dtype=torch.float64, x_T=x_T)
            outs[pred, post] = x
    assert float((outs["eps", "exact"] - outs["v", "exact"]).abs().max()) <= 1e-9
    wrong = float((outs["eps", "none"] - outs["v", "none"]).abs().max())
    assert wrong >= 1e-3 if gamma == "random" else wrong <= 1e-9, wrong


# ---- zero terminal SNR --------------------------------------------------------------------------------

@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_zero_terminal_snr_v_prediction_ddim(eta):
    """Base method on a schedule rescaled to ᾱ_T = 0 (Lin et al. 2024) with gendiff's GaussianOracle (v):
    DDIM starts at t = T without NaN, and the full-grid deterministic run has mean ≤ 1e-9 off and covariance
    within 8/T of the data; an ε-network is refused at t = T."""
    T, n = 100, 3
    m = make_method("base", rescale_zero_terminal_snr(scaled_linear_beta(T)))
    assert m.tables.zero_terminal_snr
    mu, S = data_moments(n)
    oracle = GaussianOracle(mu, S, torch.zeros(n, n, **T64), m.tables, pred="v")
    gen = torch.Generator().manual_seed(0)
    for steps in (10, T):
        x = ddim(oracle, (4000, n), m.tables, m.xi_start, steps=steps, eta=eta, pred="v", generator=gen,
                 dtype=torch.float64)
        assert torch.isfinite(x).all()
    if eta == 0.0:                      # x_T ~ N(0, σ_0² I) is q(x_T) exactly here: the affine map's moments
        x_T = torch.cat([torch.zeros(1, n, **T64), torch.eye(n, **T64)])
        out = ddim(oracle, (n + 1, n), m.tables, m.xi_start, steps=T, pred="v", dtype=torch.float64, x_T=x_T)
        b, M = out[0], (out[1:] - out[0]).T
        assert float((b - mu).abs().max()) <= 1e-9
        assert float((M @ M.T - S).abs().max() / S.abs().max()) <= 8 / T
    with pytest.raises(ValueError, match="zero terminal SNR"):
        ddim(GaussianOracle(mu, S, torch.zeros(n, n, **T64), m.tables), (2, n), m.tables, m.xi_start, steps=5,
             dtype=torch.float64, generator=gen)
