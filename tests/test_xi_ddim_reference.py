"""The generated DDIM-jump coefficients and rank-one ξ-gain against independent float64 computations."""
import pytest
import torch

from gendiff import _reference as R

T64 = dict(dtype=torch.float64)


def linear_beta(T=1000):
    return torch.linspace(1e-4, 0.02, T, **T64)


def test_ddim_jump_one_step_eta_one_is_the_posterior():
    beta, sigma0 = linear_beta(), torch.tensor(0.7, **T64)
    abar = torch.exp(R.log_alpha_bar(beta))
    k, var = R.ddim_jump_coefs(abar[1:], abar[:-1], sigma0, torch.tensor(1.0, **T64))
    torch.testing.assert_close(k, R.posterior_coef_xt(beta)[1:], rtol=1e-9, atol=0)
    torch.testing.assert_close(var, R.posterior_var(beta, sigma0)[1:], rtol=1e-9, atol=0)


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_ddim_jump_keeps_the_marginal_variance(eta):
    beta, sigma0 = linear_beta(), torch.tensor(1.3, **T64)
    abar = torch.exp(R.log_alpha_bar(beta))
    idx = torch.arange(0, 1000, 50)                           # jumps t → s over 50 steps, s = 0 included
    abar_t, abar_s = abar[idx + 49], torch.cat([abar.new_ones(1), abar[idx[1:] - 1]])
    k, var = R.ddim_jump_coefs(abar_t, abar_s, sigma0, torch.tensor(eta, **T64))
    assert torch.isfinite(k).all() and (var >= 0).all()
    torch.testing.assert_close(k**2 * sigma0**2 * (1 - abar_t) + var, sigma0**2 * (1 - abar_s), rtol=1e-12, atol=1e-15)
    if eta == 0.0:
        assert (var == 0).all()
        torch.testing.assert_close(k, torch.sqrt((1 - abar_s) / (1 - abar_t)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("m,channels", [(1, 1), (4, 1), (3, 2)])
def test_rank_one_gain_is_gaussian_conditioning(m, channels):
    """E[ξ | x_t] by joint-Gaussian conditioning (Gaussian x_0) equals g Σ_group E[η_t | x_t]."""
    g = torch.Generator().manual_seed(m + 10 * channels)
    n = m * channels
    psi, phi = torch.tensor(0.8, **T64), torch.tensor(0.5, **T64)
    sigma0, sigma_c, abar = torch.tensor(0.9, **T64), torch.tensor(1.7, **T64), torch.tensor(0.4, **T64)
    J = torch.block_diag(*[torch.ones(m, m, **T64)] * channels)
    Sxi = sigma_c**2 * J
    A = torch.randn(n, n, generator=g, **T64)
    S0 = A @ A.T + 0.1 * torch.eye(n, **T64)                 # Cov[x_0]
    a, b = abar.sqrt(), (1 - abar).sqrt()
    M = sigma0**2 * torch.eye(n, **T64) + psi**2 * Sxi       # Var[η_t], η_t = σ_0 ε + ψ ξ
    Vx = a**2 * S0 + b**2 * M                                # Var[x_t]
    d = torch.randn(n, generator=g, **T64)                   # x_t - E[x_t]
    w = torch.linalg.solve(Vx, d)
    xi_hat = b * psi * Sxi @ w                               # E[ξ | x_t] (μ_ξ = 0)
    eta_hat = b * M @ w                                      # E[η_t | x_t]
    gain = R.xi_gain_rank_one(psi, sigma0, sigma_c, m)
    torch.testing.assert_close(gain * J @ eta_hat, xi_hat, rtol=1e-10, atol=1e-12)
    # ψ ≠ ϕ: the network predicts E[σ_0 ε + ϕ ξ | x_t] = η̂ - (ψ - ϕ) ξ̂
    tgt_hat = eta_hat - (psi - phi) * xi_hat
    gain_t = R.xi_gain_rank_one_target(psi, phi, sigma0, sigma_c, m)
    torch.testing.assert_close(gain_t * J @ tgt_hat, xi_hat, rtol=1e-10, atol=1e-12)
