"""(x̂_0, ξ̂) from a network's output and E[ξ | x_t] per q(ξ) family [result 'xi_posterior'].

Exact level (float64): `split_output` applied to the exact conditional mean of the ε- or v-target returns
E[x_0 | x_t] and E[ξ | x_t] computed by direct joint-Gaussian conditioning (tests/gaussian_model.py) for
every family and γ (ψ_t ≠ ϕ_t included); the rank-one closed forms equal the generated reference gains
and the Gaussian family's eigenbasis route with the equivalent covariance; the Gaussian family equals
(I - d K_t)⁻¹[μ_ξ + K_t(e - ψ_t μ_ξ)] solved directly.
Monte Carlo level: for per_channel ξ on (B, C, H, W) tensors, the least-squares regression of ξ on the
noise equals the closed form (exact χ² test, false-alarm probability ≤ 1e-6), and a 1 % error in the
gain fails the same test at 5× the samples (non-centrality ≈ 195 against the limit 63.7 of χ²_18).
"""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from gendiff import _reference as R
from gendiff.estimates import split_output
from gendiff.tables import build_tables
from gendiff.xi import Brightness, Dirac, Gaussian, PerChannel
from tests.gaussian_model import GaussianModel, random_gamma
from tests.mc import CheckFailed, linear_gaussian
from tests.strategies import betas

T64 = dict(dtype=torch.float64)


def block_ones(channels: int, m: int) -> torch.Tensor:
    """Covariance pattern of per_channel ξ on the flattened (C·H·W) pixels: one all-ones block per channel."""
    return torch.block_diag(*[torch.ones(m, m, **T64)] * channels)


def random_cov(n, g, rank=None):
    A = torch.randn(n, rank or n, generator=g, **T64)
    return A @ A.T / n + (0.0 if rank else 0.1) * torch.eye(n, **T64)


@st.composite
def estimate_setups(draw):
    fam = draw(st.sampled_from(["brightness", "per_channel", "gaussian", "dirac"]))
    if fam == "per_channel":
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    beta = draw(betas(max_T=200))
    return dict(fam=fam, shape=shape, beta=beta, t=draw(st.integers(1, beta.shape[0])),
                gamma=draw(st.sampled_from(["balanced", "zero", "random"])), sigma0=draw(st.floats(0.2, 3.0)),
                sigma_c=draw(st.floats(0.1, 3.0)), pred=draw(st.sampled_from(["eps", "v"])),
                seed=draw(st.integers(0, 2**31 - 1)))


def family_and_moments(s, g):
    """(q(ξ) object, μ_ξ, Σ_ξ on flattened samples)."""
    n = 1
    for k in s["shape"][1:]:
        n *= k
    sc2 = s["sigma_c"] ** 2
    if s["fam"] == "brightness":
        return Brightness(sigma_c=s["sigma_c"]), torch.zeros(n, **T64), sc2 * torch.ones(n, n, **T64)
    if s["fam"] == "per_channel":
        C, H, W = s["shape"][1:]
        return PerChannel(sigma_c=s["sigma_c"]), torch.zeros(n, **T64), sc2 * block_ones(C, H * W)
    if s["fam"] == "gaussian":
        mx, Sx = torch.randn(n, generator=g, **T64), random_cov(n, g, rank=max(1, n // 2))   # singular Σ_ξ too
        return Gaussian(mean=mx, cov=Sx), mx, Sx
    return Dirac(), torch.zeros(n, **T64), torch.zeros(n, n, **T64)


@settings(max_examples=60)
@given(s=estimate_setups())
def test_split_output_is_joint_gaussian_conditioning(s):
    """(x̂_0, ξ̂) from the exact E[target | x_t] equal direct conditioning, for ε and v, every family and γ."""
    g = torch.Generator().manual_seed(s["seed"])
    beta, t = s["beta"], s["t"]
    gam = random_gamma(beta, g) if s["gamma"] == "random" else s["gamma"]
    if s["gamma"] == "balanced" and float(torch.log1p(-beta).sum()) < -700:
        gam = "zero"                                   # the balanced γ needs a normal ᾱ_T
    tb = build_tables(beta, gamma=gam, sigma0=s["sigma0"])
    fam, mx, Sx = family_and_moments(s, g)
    n = mx.shape[0]
    model = GaussianModel(torch.randn(n, generator=g, **T64), random_cov(n, g), mx, Sx, beta, tb.gamma,
                          s["sigma0"], pred=s["pred"])
    B = s["shape"][0]
    x_t = 2 * torch.randn(B, n, generator=g, **T64)
    out = model.mean("eta" if s["pred"] == "eps" else "v", x_t, t)
    shape = s["shape"]
    tt = torch.full((B,), t)
    x0_hat, xi_hat = split_output(out.reshape(shape), x_t.reshape(shape), tt, tb, fam, pred=s["pred"])
    x0_ref, xi_ref = model.mean("x0", x_t, t), model.mean("xi", x_t, t)
    a = float(tb.alpha_bar[t - 1].sqrt())
    # ε-prediction divides by √ᾱ_t: its rounding error grows like |x_t|/√ᾱ_t
    scale = 1.0 + float(x_t.abs().max()) * (1.0 / a if s["pred"] == "eps" else 1.0) + float(x0_ref.abs().max())
    torch.testing.assert_close(x0_hat.reshape(B, n), x0_ref, rtol=0, atol=1e-9 * scale)
    torch.testing.assert_close(xi_hat.reshape(B, n), xi_ref, rtol=0, atol=1e-9 * (1.0 + float(xi_ref.abs().max())
                                                                                     + float(x_t.abs().max())))


@given(st.floats(0.0, 3.0), st.floats(0.0, 3.0), st.floats(0.1, 3.0), st.floats(0.05, 3.0),
       st.sampled_from([(3, 5), (2, 1), (2, 3, 2, 2), (1, 2, 1, 4)]), st.integers(0, 2**31 - 1))
def test_rank_one_posterior_mean_two_routes(psi, phi, sigma0, sigma_c, shape, seed):
    """brightness and per_channel E[ξ | x_t]: = the generated gain · group sum, and = the Gaussian family's
    eigenbasis route with the equivalent covariance σ_c² (block of ones), for d = 0 and d = ψ - ϕ."""
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(shape, generator=g, **T64)
    B, n = shape[0], e[0].numel()
    fams = [("brightness", Brightness(sigma_c=sigma_c), tuple(range(1, len(shape))), block_ones(1, n))]
    if len(shape) == 4:
        C, H, W = shape[1:]
        fams.append(("per_channel", PerChannel(sigma_c=sigma_c), (2, 3), block_ones(C, H * W)))
    p, f, s0, sc = (torch.tensor(v, **T64) for v in (psi, phi, sigma0, sigma_c))
    for name, fam, dims, J in fams:
        m = n if name == "brightness" else shape[2] * shape[3]
        group_sum = e.sum(dim=dims, keepdim=True).expand_as(e)
        eig = Gaussian(mean=torch.zeros(n, **T64), cov=sigma_c**2 * J)
        for d, gain in ((0.0, R.xi_gain_rank_one(p, s0, sc, m)),
                        (psi - phi, R.xi_gain_rank_one_target(p, f, s0, sc, m))):
            got = fam.posterior_mean(e, psi, sigma0, d)
            torch.testing.assert_close(got, gain * group_sum, rtol=1e-12, atol=1e-300, msg=f"{name} vs reference")
            via_eig = eig.posterior_mean(e.reshape(B, n), psi, sigma0, d).reshape(shape)
            torch.testing.assert_close(got, via_eig, rtol=0, atol=1e-11 * (1 + float(got.abs().max())),
                                       msg=f"{name} vs eigenbasis")


@settings(max_examples=40)
@given(st.integers(1, 6), st.floats(0.0, 3.0), st.floats(-1.0, 3.0), st.floats(0.1, 3.0), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_gaussian_posterior_mean_is_direct_solve(n, psi, phi, sigma0, singular, seed):
    """Gaussian q(ξ): ξ̂ = (I - d K)⁻¹ [μ_ξ + K (e - ψ μ_ξ)], K = ψ Σ_ξ (σ_0² I + ψ² Σ_ξ)⁻¹, by torch.linalg.solve."""
    g = torch.Generator().manual_seed(seed)
    mx, Sx = torch.randn(n, generator=g, **T64), random_cov(n, g, rank=1 if singular else None)
    d = psi - phi
    eye = torch.eye(n, **T64)
    if torch.linalg.eigvalsh(sigma0**2 * eye + psi * (psi - d) * Sx).min() <= 1e-6:
        with pytest.raises(ValueError, match="not identifiable"):
            Gaussian(mean=mx, cov=Sx).posterior_mean(torch.zeros(2, n, **T64), psi, sigma0, d)
        return
    e = torch.randn(7, n, generator=g, **T64)
    K = torch.linalg.solve(sigma0**2 * eye + psi**2 * Sx, psi * Sx).T        # (σ_0² + ψ²Σ)⁻¹ψΣ = (ψΣ(σ_0² + ψ²Σ)⁻¹)ᵀ
    rhs = mx + (e - psi * mx) @ K.T
    want = torch.linalg.solve(eye - d * K, rhs.T).T
    got = Gaussian(mean=mx, cov=Sx).posterior_mean(e, psi, sigma0, d)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-9 * (1 + float(want.abs().max())))


# ---- Monte Carlo: per_channel ξ on image tensors --------------------------------------------------

PC = dict(B=30000, C=2, H=3, W=3, psi=0.8, phi=0.5, sigma0=1.0, sigma_c=1.5)


def per_channel_regression(seed, *, target: bool, gain_scale: float = 1.0, B: int = PC["B"]):
    """Draw ξ (per_channel) and ε on (B, C, H, W) and the network's input noise η = σ_0 ε + ψ ξ.  Regress one
    channel's ξ on all C·H·W pixels of η: the exact E[ξ | η] is linear, so the least-squares slope is
    ĉ ~ N(c, Var[ξ | η] (XᵀX)⁻¹) exactly.  c is read off the implementation by applying posterior_mean to unit
    pixels: to η itself (d = 0), or (target=True) to the network's exact output for the target σ_0 ε + ϕ ξ,
    E[σ_0 ε + ϕ ξ | η] = (σ_0² I + ϕψ Σ_ξ)(σ_0² I + ψ² Σ_ξ)⁻¹ η (direct solve), with d = ψ - ϕ."""
    C, H, W, psi, phi, s0, sc = (PC[k] for k in ("C", "H", "W", "psi", "phi", "sigma0", "sigma_c"))
    g = torch.Generator().manual_seed(seed)
    fam = PerChannel(sigma_c=sc)
    xi = fam.sample((B, C, H, W), generator=g, dtype=torch.float64)
    eta = s0 * torch.randn(B, C, H, W, generator=g, **T64) + psi * xi
    n, m = C * H * W, H * W
    units = torch.eye(n, **T64)                                   # row j: η = unit pixel j
    d = 0.0
    if target:
        Sx, eye = sc**2 * block_ones(C, m), torch.eye(n, **T64)
        G = torch.linalg.solve(s0**2 * eye + psi**2 * Sx, s0**2 * eye + phi * psi * Sx).T
        units, d = units @ G.T, psi - phi
    coef = fam.posterior_mean(units.reshape(-1, C, H, W), psi, s0, d)[:, 0, 0, 0] * gain_scale
    var = sc**2 - (m * psi * sc**2) ** 2 / (m * s0**2 + m * m * psi * psi * sc**2)     # Var[ξ | group sum of η]
    return linear_gaussian(xi[:, 0, 0, 0], eta.reshape(B, -1), coef, var,
                           what=f"per_channel E[ξ | η] ({'from the target' if target else 'd = 0'})")


@pytest.mark.parametrize("target", [False, True])
def test_per_channel_regression_matches_closed_form(target):
    per_channel_regression(1 + int(target), target=target)


@pytest.mark.parametrize("target", [False, True])
def test_per_channel_regression_detects_one_percent_gain_error(target):
    with pytest.raises(CheckFailed):
        per_channel_regression(3 + int(target), target=target, gain_scale=1.01, B=150000)
