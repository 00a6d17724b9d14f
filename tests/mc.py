"""Statistical checks with stated false-alarm probabilities (see PyTorch's "Randomized statistical tests").

Every check here has false-alarm probability ≤ ALPHA = 1e-6 under its null hypothesis, split
(Bonferroni) over the sub-tests it makes; the reference distributions are exact (χ² for Gaussian
regressions with known variance) or CLT (z-tests of Monte Carlo means), as each function says.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats

ALPHA = 1e-6


class CheckFailed(AssertionError):
    pass


def linear_gaussian(y: torch.Tensor, X: torch.Tensor, coef, var: float, *, alpha: float = ALPHA,
                    what: str = "") -> dict:
    """Test y = X coef + e, e ~ N(0, var) iid, given X (exact).

    Sub-tests (α/2 each): (1) OLS estimate ĉ ~ N(coef, var (XᵀX)⁻¹): (ĉ-coef)ᵀXᵀX(ĉ-coef)/var ~ χ²_k;
    (2) Σ(y - X coef)²/var ~ χ²_M, two-sided.  Raises CheckFailed with the statistics.
    """
    y, X = y.double().reshape(-1), X.double().reshape(y.numel(), -1)
    coef = torch.as_tensor(coef, dtype=torch.float64, device=y.device).reshape(-1)
    M, k = X.shape
    XtX = X.T @ X
    c_hat = torch.linalg.solve(XtX, X.T @ y)
    d = c_hat - coef
    q = float(d @ XtX @ d) / var
    q_lim = stats.chi2.isf(alpha / 2, k)
    rss = float(((y - X @ coef) ** 2).sum()) / var
    lo, hi = stats.chi2.ppf(alpha / 4, M), stats.chi2.isf(alpha / 4, M)
    info = {"coef_hat": c_hat.tolist(), "coef": coef.tolist(), "chi2_coef": q, "limit": q_lim,
            "rss_ratio": rss / M, "rss_band": (lo / M, hi / M)}
    if not q <= q_lim:
        raise CheckFailed(f"{what}: coefficients {c_hat.tolist()} vs {coef.tolist()} (χ²_{k} = {q:.1f} > {q_lim:.1f})")
    if not lo <= rss <= hi:
        raise CheckFailed(f"{what}: residual variance ratio {rss / M:.5f} outside [{lo / M:.5f}, {hi / M:.5f}]")
    return info


def two_means(a: torch.Tensor, b: torch.Tensor, *, alpha: float = ALPHA, what: str = "") -> float:
    """CLT z-test that two independent Monte Carlo samples have equal means (two-sided, level α)."""
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    se = float((a.var() / a.numel() + b.var() / b.numel()).sqrt())
    z = float(a.mean() - b.mean()) / se
    if not abs(z) <= stats.norm.isf(alpha / 2):
        raise CheckFailed(f"{what}: means {float(a.mean()):.6g} vs {float(b.mean()):.6g}, z = {z:.2f}")
    return z


def one_mean(a: torch.Tensor, expected: float, *, alpha: float = ALPHA, what: str = "") -> float:
    """CLT z-test that a Monte Carlo sample has the given mean (two-sided, level α)."""
    a = a.double().reshape(-1)
    z = (float(a.mean()) - expected) / float(a.std() / a.numel() ** 0.5)
    if not abs(z) <= stats.norm.isf(alpha / 2):
        raise CheckFailed(f"{what}: mean {float(a.mean()):.6g} vs expected {expected:.6g}, z = {z:.2f}")
    return z


def gaussian_moments(x: torch.Tensor, mu, Sigma, *, alpha: float = ALPHA, what: str = "") -> None:
    """CLT z-tests of every mean component and covariance entry of samples x (N, n) against (μ, Σ).

    Var of a sample covariance entry under Gaussianity: (Σ_ii Σ_jj + Σ_ij²)/N.  α split over all
    n + n(n+1)/2 tests.
    """
    x = x.double()
    N, n = x.shape
    mu = torch.as_tensor(mu, dtype=torch.float64)
    S = torch.as_tensor(Sigma, dtype=torch.float64)
    m = n + n * (n + 1) // 2
    zlim = stats.norm.isf(alpha / (2 * m))
    zm = (x.mean(0) - mu) / (S.diagonal() / N).sqrt()
    xc = x - mu
    C = xc.T @ xc / N
    sd = ((S.diagonal()[:, None] * S.diagonal()[None] + S**2) / N).sqrt()
    zc = ((C - S) / sd)[np.triu_indices(n)]
    if not (zm.abs().max() <= zlim and zc.abs().max() <= zlim):
        raise CheckFailed(f"{what}: max |z| mean {float(zm.abs().max()):.2f}, cov {float(zc.abs().max()):.2f} "
                          f"(limit {zlim:.2f})")


def chi2_variance(x: torch.Tensor, var: float, *, mean: float = 0.0, alpha: float = ALPHA, what: str = "") -> float:
    """Exact two-sided test that iid Gaussian x has variance var (known mean): Σ(x-mean)²/var ~ χ²_N."""
    x = x.double().reshape(-1)
    s = float(((x - mean) ** 2).sum()) / var
    lo, hi = stats.chi2.ppf(alpha / 2, x.numel()), stats.chi2.isf(alpha / 2, x.numel())
    if not lo <= s <= hi:
        raise CheckFailed(f"{what}: variance ratio {s / x.numel():.5f} outside [{lo / x.numel():.5f}, {hi / x.numel():.5f}]")
    return s / x.numel()
