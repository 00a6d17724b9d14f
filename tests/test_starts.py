"""The signal-leak start (gendiff.starts) and the zero-snr / base-signal-leak methods (gendiff.methods).

Statistical checks use tests/mc.py (false alarm ≤ 1e-6 each, Bonferroni within a test), fixed seeds, and each
states the mutation it has shown power against.
"""
import math

import pytest
import torch

from gendiff.errors import InputError
from gendiff.experiments.oracle import GaussianOracle
from gendiff.methods import make_method, method_from_spec, parse_spec
from gendiff.samplers import ddim
from gendiff.schedules import make_beta, rescale_zero_terminal_snr
from gendiff.starts import SignalLeak, channel_brightness
from gendiff.xi import Brightness, Dirac, PerChannel
from tests.mc import ALPHA, CheckFailed, chi2_variance, one_mean

BETA = make_beta("linear", 100)          # ᾱ_T ≈ 0.36: the signal term is large enough to see




def test_fit_per_channel_by_two_routes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, 4, 5, generator=g, dtype=torch.float64) + torch.tensor([0.5, -1.0, 2.0]).reshape(1, 3, 1, 1)
    leak = SignalLeak.fit(x)
    L = x.reshape(50, 3, 20).sum(2) / 20
    for c in range(3):
        m = sum(L[b, c].item() for b in range(50)) / 50
        v = sum((L[b, c].item() - m) ** 2 for b in range(50)) / 49              # divisor B - 1
        assert abs(leak.mean[c].item() - m) < 1e-12 and abs(leak.var[c].item() - v) < 1e-12
    flat = SignalLeak.fit(x[:, 0].reshape(50, 20))
    assert flat.channels == 1 and torch.allclose(flat.mean, leak.mean[:1]) and torch.allclose(flat.var, leak.var[:1])
    assert torch.equal(channel_brightness(x[:, 0].reshape(50, 20)), L[:, :1])


def _z(x):
    """Brightness coordinate per channel: √n L_avg, (B, C)."""
    n = x.shape[-1] if x.ndim == 2 else x.shape[2] * x.shape[3]
    return channel_brightness(x) * math.sqrt(n)


def _check_start_law(x, tables, leak, n, N, alpha):
    """z per channel ~ N(√ᾱ_T √n m_c, ᾱ_T n v_c + c_T² N + σ_0²(1-ᾱ_T)) [leak_mean, leak_var]; the components
    orthogonal to 1 ~ N(0, σ_0²(1-ᾱ_T)) iid [leak_noise_var] (an orthonormal basis of 1^⊥ from QR)."""
    ab, om, cT, s0 = (tables.alpha_bar[-1].item(), tables.one_minus_alpha_bar[-1].item(), tables.c[-1].item(),
                      tables.sigma0)
    z = _z(x.double())
    flat = x.double().reshape(x.shape[0], z.shape[1], n)
    Q, _ = torch.linalg.qr(torch.cat([torch.ones(n, 1, dtype=torch.float64), torch.eye(n, dtype=torch.float64)[:, 1:]], 1))
    k = 3 * z.shape[1]
    for c in range(z.shape[1]):
        mean = math.sqrt(ab * n) * leak.mean[c].item()
        var = ab * n * leak.var[c].item() + cT**2 * N + s0**2 * om
        one_mean(z[:, c], mean, alpha=alpha / k, what=f"channel {c} mean")
        chi2_variance(z[:, c], var, mean=mean, alpha=alpha / k, what=f"channel {c} variance")
        chi2_variance(flat[:, c] @ Q[:, 1:], s0**2 * om, alpha=alpha / k, what=f"channel {c} detail")


@pytest.mark.parametrize("shape,method", [((40000, 2, 3, 3), "base"), ((40000, 6), "proposed"), ((40000, 6), "offset")])
def test_start_law_by_chi2(shape, method):
    """Base (ξ = 0), proposed (c_T = 1, ξ ~ N(0, 0.7² 1 1ᵀ)) and offset tables (c_T = w√(1-ᾱ_T) ≠ 1, ξ of its
    training family, σ_c = 1) with σ_0 = 0.8."""
    g = torch.Generator().manual_seed(1)
    C = shape[1] if len(shape) == 4 else 1
    leak = SignalLeak(mean=[0.3, -0.2][:C], var=[0.25, 0.5][:C])
    m = make_method(method, BETA, sigma0=0.8, sigma_c=0.7, w=0.5)
    fam = m.xi_train if method == "offset" else m.xi_start
    n = shape[-1] if len(shape) == 2 else shape[2] * shape[3]
    N = n * {"base": 0.0, "proposed": 0.7**2, "offset": 1.0}[method]
    x = leak.draw(shape, m.tables, fam, generator=g, dtype=torch.float64)
    _check_start_law(x, m.tables, leak, n, N, ALPHA)


class _Mutant(SignalLeak):
    """The start with one realistic mistake."""
    def __init__(self, mistake, **kw):
        super().__init__(**kw)
        self.mistake = mistake

    def draw(self, shape, tables, xi_family, *, generator=None, device=None, dtype=torch.float32):
        ab, om = tables.alpha_bar[-1].item(), tables.one_minus_alpha_bar[-1].item()
        u = self.mean + self.var.sqrt() * torch.randn(shape[0], 1, generator=generator, dtype=torch.float64)
        eps = torch.randn(shape, generator=generator, dtype=torch.float64)
        sig = {"unit_noise": 1.0, "sqrt_missing": om**0.5, "abar_for_sqrt": om**0.5, "std_for_var": om**0.5}[self.mistake]
        a = {"unit_noise": ab**0.5, "sqrt_missing": 1.0, "abar_for_sqrt": ab, "std_for_var": ab**0.5}[self.mistake]
        if self.mistake == "std_for_var":
            u = self.mean + self.var * torch.randn(shape[0], 1, generator=generator, dtype=torch.float64)
        return (a * u + tables.sigma0 * sig * eps).to(dtype)


@pytest.mark.parametrize("mistake", ["unit_noise", "sqrt_missing", "abar_for_sqrt", "std_for_var"])
def test_start_law_check_has_power(mistake):
    m = make_method("base", BETA)
    leak = _Mutant(mistake, mean=[0.3], var=[0.25])
    x = leak.draw((40000, 6), m.tables, m.xi_start, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with pytest.raises(CheckFailed):
        _check_start_law(x, m.tables, leak, 6, 0.0, ALPHA)


def test_draw_reproducible_dtype_device_and_order():
    m = make_method("base", BETA)
    leak = SignalLeak(mean=[0.1, 0.2], var=[0.3, 0.4])
    a = leak.draw((4, 2, 3, 3), m.tables, m.xi_start, generator=torch.Generator().manual_seed(5))
    b = leak.draw((4, 2, 3, 3), m.tables, m.xi_start, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.shape == (4, 2, 3, 3)
    g = torch.Generator().manual_seed(5)                                  # u first, then ε
    z = torch.randn(4, 2, generator=g, dtype=torch.float64)
    eps = torch.randn(4, 2, 3, 3, generator=g)
    ab, om = m.tables.alpha_bar[-1].item(), m.tables.one_minus_alpha_bar[-1].item()
    u = leak.mean + leak.var.sqrt() * z
    want = (ab**0.5 * u).reshape(4, 2, 1, 1).float() + om**0.5 * eps
    assert torch.allclose(a, want, atol=1e-6)


def test_draw_and_fit_refuse_bad_input():
    m = make_method("base", BETA)
    leak = SignalLeak(mean=[0.0, 0.0], var=[1.0, 1.0])
    for shape in [(4, 6), (4, 3, 2, 2), (4, 2, 2)]:
        with pytest.raises(InputError, match="channel"):
            leak.draw(shape, m.tables, m.xi_start)
    with pytest.raises(InputError, match="at least 2"):
        SignalLeak.fit(torch.zeros(1, 4))
    with pytest.raises(InputError, match="non-finite"):
        SignalLeak.fit(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(InputError, match=">= 0"):
        SignalLeak(mean=[0.0], var=[-1.0])
    with pytest.raises(InputError, match="equal length"):
        SignalLeak(mean=[0.0, 1.0], var=[1.0])
    with pytest.raises(InputError, match=r"\(B, n\) or \(B, C, H, W\)"):
        SignalLeak.fit(torch.zeros(3, 2, 2))


def test_methods_zero_snr_and_signal_leak():
    for name in ("linear", "scaled_linear", "cosine"):
        b = make_beta(name, 1000)
        z = make_method("zero-snr", b)
        assert z.pred == "v" and z.tables.alpha_bar[-1].item() == 0 and z.tables.zero_terminal_snr
        assert torch.equal(z.tables.beta, rescale_zero_terminal_snr(b))
        assert abs(z.tables.alpha_bar[0].item() - (1 - b[0].item())) < 1e-12           # √ᾱ_1 kept
        assert not bool(z.tables.c.any()) and torch.isfinite(z.tables.lam_v).all()
    base = make_method("base", BETA)
    with pytest.raises(InputError, match="needs leak"):
        make_method("base-signal-leak", BETA)
    leak = SignalLeak(mean=[0.0], var=[0.3])
    sl = make_method("base-signal-leak", BETA, leak=leak)
    assert sl.start is leak and sl.pred == "eps" and torch.equal(sl.tables.c, base.tables.c)
    assert base.start == "prior" and isinstance(sl.xi_start, Dirac)


def test_method_specs():
    assert parse_spec("offset-w0.1") == ("offset", {"w": 0.1})
    assert parse_spec("proposed-sc2") == ("proposed", {"sigma_c": 2.0})
    assert parse_spec("proposed-sc1e-1") == ("proposed", {"sigma_c": 0.1})
    for bad in ["offset", "offset-w", "proposed-sc0", "proposed-sc-1", "zero_snr", "offset-wnan", 3]:
        with pytest.raises(InputError):
            parse_spec(bad)
    m = method_from_spec("proposed-sc0.5", BETA, image=True)
    assert isinstance(m.xi_train, PerChannel) and m.xi_train.sigma_c == 0.5 and m.name == "proposed-sc0.5"
    o = method_from_spec("offset-w0.3", BETA)
    assert isinstance(o.xi_train, Brightness) and torch.allclose(o.tables.psi, torch.full((100,), 0.3, dtype=torch.float64))
    assert isinstance(o.xi_start, Dirac)


def _gaussian_law(n, V):
    """Exchangeable Σ = a I + b 1 1ᵀ with Var L_avg = a/n + b = V (1 is an eigenvector)."""
    a = 0.5
    return torch.zeros(n, dtype=torch.float64), a * torch.eye(n, dtype=torch.float64) + (V - a / n) * torch.ones(n, n, dtype=torch.float64)


def test_signal_leak_removes_the_mismatch_by_monte_carlo(one_thread):
    """Base on Gaussian data (n = 8, r = n ᾱ_T V ≈ 2.9) with the exact oracle, DDIM-100: from the prior start the
    brightness variance is lost (ratio 1/(1 + r - ᾱ_T)·∏cos²), from the fitted signal-leak start it is kept
    (Var_gen/Var_data = ∏cos² ≈ 1) [result 'start_mismatch'].  The leak check also rejects the prior start (power)."""
    from gendiff.regime import brightness_law, var_ratio_ddim
    from gendiff.samplers import timesteps
    n, V, M = 8, 1.0, 40000
    mu, S = _gaussian_law(n, V)
    base = make_method("base", BETA)
    g = torch.Generator().manual_seed(7)
    x_train = mu + torch.randn(20000, n, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T
    leak = SignalLeak.fit(x_train)
    oracle = GaussianOracle(mu, S, torch.zeros(n, n, dtype=torch.float64), base.tables)
    x_T = leak.draw((M, n), base.tables, base.xi_start, generator=g, dtype=torch.float64)
    out = ddim(oracle, (M, n), base.tables, base.xi_start, steps=100, generator=g, dtype=torch.float64, x_T=x_T)
    law = brightness_law(base, n, V)
    grid = timesteps(100, 100)
    kept = var_ratio_ddim(law, grid, float(law["wsq"][-1]))
    assert 0.98 < kept <= 1.0
    L = channel_brightness(out)[:, 0]
    # the fitted law carries its own estimation error (20 000 samples): compare with the fitted variance's prediction
    v_fit = leak.var.item()
    S0 = base.tables.alpha_bar[-1].item() * n * v_fit + base.tables.one_minus_alpha_bar[-1].item()
    pred = var_ratio_ddim(law, grid, S0) * V
    chi2_variance(L, pred, mean=0.0, alpha=ALPHA / 2, what="signal-leak start")
    assert abs(pred / V - 1) < 0.03
    prior = ddim(oracle, (M, n), base.tables, base.xi_start, steps=100, generator=g, dtype=torch.float64,
                 start="prior")
    Lp = channel_brightness(prior)[:, 0]
    with pytest.raises(CheckFailed):
        chi2_variance(Lp, pred, mean=0.0, alpha=ALPHA / 2, what="prior start")
    chi2_variance(Lp, var_ratio_ddim(law, grid, 1.0) * V, mean=0.0, alpha=ALPHA / 2, what="prior start, predicted")
