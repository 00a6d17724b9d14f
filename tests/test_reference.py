"""Exact level: the hand-written tables equal the generated reference (≤ 1e-12 relative, float64)."""
import torch
from hypothesis import given, strategies as st

from gendiff import _reference as R
from gendiff.losses import training_loss
from gendiff.methods import make_method
from gendiff.tables import build_tables
from tests.strategies import betas, sigma0s, ws

RTOL = 1e-12


def close(a, b, scale=None):
    scale = b.abs() if scale is None else scale
    return bool(((a - b).abs() <= RTOL * scale + 1e-300).all()), float(((a - b).abs() / scale.clamp_min(1e-300)).max())


@given(betas(), sigma0s)
def test_balanced_tables_equal_reference(beta, sigma0):
    tb = build_tables(beta, gamma="balanced", sigma0=sigma0)
    g = tb.gamma
    for name, ref in [("gamma", R.balanced_gamma(beta)), ("c", R.balanced_c(beta)), ("psi", R.balanced_psi(beta)),
                      ("c", R.c(beta, g)), ("psi", R.psi(beta, g)), ("phi", R.phi(beta, g)),
                      ("lam", R.lam(beta, tb.sigma2)), ("lam_v", R.lam(beta, tb.sigma2) * torch.exp(R.log_alpha_bar(beta))), ("mu_eps_coef", R.mu_eps_coef(beta)),
                      ("post_coef_x0", R.posterior_coef_x0(beta)), ("post_coef_xt", R.posterior_coef_xt(beta)),
                      ("post_var", R.posterior_var(beta, torch.tensor(sigma0, dtype=torch.float64)))]:
        ok, err = close(getattr(tb, name), ref)
        assert ok, f"{name}: relative error {err:.3g}"
    # C_t is a difference of two terms that cancel exactly for the balanced schedule: compare at their scale.
    c_prev = torch.cat([g.new_zeros(1), tb.c[:-1]])
    scale = (tb.beta * c_prev).abs() / tb.one_minus_alpha_bar + 1e-300
    ok, err = close(tb.post_coef_xi, R.posterior_coef_xi(beta, g), scale)
    assert ok, err
    assert (tb.post_coef_xi.abs() <= 1e-12 * scale).all()          # balanced ⇒ C_t = 0
    assert close(tb.phi, tb.psi)[0]                                  # balanced ⇒ ϕ_t = ψ_t
    assert abs(tb.c[-1].item() - 1) < 1e-12                          # normalisation c_T = 1


@given(betas(max_T=300))
def test_closed_form_equals_algorithm1(beta):
    """Algorithm 1 as written divides by 1-ᾱ_{t-1}, formed by cancellation: its relative error grows
    like T·eps/(1-ᾱ_1).  The closed form has no such loss, so the tolerance follows that bound."""
    tb = build_tables(beta)
    rec = R.balanced_gamma_recursive(beta)
    bound = 100 * beta.shape[0] * torch.finfo(torch.float64).eps / tb.one_minus_alpha_bar[0].item()
    err = float(((rec - tb.gamma).abs() / tb.gamma.abs()).max())
    assert err <= max(bound, RTOL), (err, bound)


@given(betas(max_T=400), st.integers(0, 2**31 - 1), sigma0s)
def test_custom_gamma_tables_equal_reference(beta, seed, sigma0):
    g = torch.rand(beta.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    tb = build_tables(beta, gamma=g, sigma0=sigma0)
    for name, ref in [("c", R.c(beta, g)), ("psi", R.psi(beta, g)), ("phi", R.phi(beta, g))]:
        ok, err = close(getattr(tb, name), ref)
        assert ok, f"{name}: {err}"


@given(betas(), sigma0s)
def test_zero_gamma_is_ddpm(beta, sigma0):
    tb = build_tables(beta, gamma="zero", sigma0=sigma0)
    assert (tb.psi == 0).all() and (tb.phi == 0).all() and (tb.post_coef_xi == 0).all()
    b, ab = tb.beta, tb.alpha_bar
    ddpm = torch.sqrt(tb.alpha_bar_prev) * b / (1 - torch.cumprod(1 - b, 0))   # DDPM eq. (7), naive 1-ᾱ
    bound = 100 * b.shape[0] * torch.finfo(torch.float64).eps / tb.one_minus_alpha_bar[0].item()
    assert float(((tb.post_coef_x0 - ddpm).abs() / ddpm).max()) <= bound


@given(betas(max_T=200), ws, st.integers(0, 2**31 - 1))
def test_offset_with_w_zero_equals_base(beta, w, seed):
    x0 = torch.randn(16, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    model = torch.nn.Linear(5, 5).double()
    losses = []
    for m in (make_method("base", beta), make_method("offset", beta, w=0.0)):
        g = torch.Generator().manual_seed(seed)
        losses.append(training_loss(lambda x, t: model(x), x0, m.tables, m.xi_train, generator=g))
    assert torch.equal(losses[0], losses[1])
    m = make_method("offset", beta, w=w)
    assert (m.tables.psi == w).all() and (m.tables.phi == w).all()


@given(betas(max_T=200), st.integers(0, 2**31 - 1))
def test_offset_implied_target_solves_residual(beta, seed):
    a = torch.rand(beta.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    b = R.offset_target_implied(beta, a)
    tb = build_tables(beta, gamma=R.offset_gamma_implied(beta, b))
    # three float64 stages (target, γ, cumulative c): absolute error ~1e-16 of the scale of a, so a tiny a_t
    # (rand can give 1e-7) is compared on that scale; 1e-10 is still far below a 1 % error
    err = float((tb.psi - a).abs().max() / a.abs().max())
    assert err <= 1e-10, err


@given(betas(min_T=2), sigma0s)
def test_balanced_tables_follow_the_ddim_result(beta, sigma0):
    """Result 'ddim' on the hand-written tables: the ξ-free step k = c_{t-1}/c_t is the ancestral step
    (posterior x_t-coefficient, variance σ_0² β̃_t), and ψ_t² - ψ_{t-1}² = K² β_t/ᾱ_t > 0."""
    import sympy as sp
    from derivations import ddim
    from derivations.symbols import K, abar_prev, alpha, sigma0 as s0
    tb = build_tables(beta, gamma="balanced", sigma0=sigma0)
    args = (alpha, abar_prev, K, s0)
    vals = (tb.alpha[1:], tb.alpha_bar_prev[1:], R.balanced_K(beta), torch.tensor(sigma0, dtype=torch.float64))
    st = {k: sp.lambdify(args, e, torch) for k, e in ddim.statements().items()
          if e.free_symbols <= set(args)}
    # The lambdified statements form 1-ᾱ_t, 1-ᾱ_{t-1} and 1-α_t by cancellation; the tables do not.
    eps = torch.finfo(torch.float64).eps
    widen = 1 + 100 * eps / RTOL * (1 / tb.one_minus_alpha_bar[:-1] + 1 / tb.beta[1:])   # tolerance RTOL · widen
    k_free, k_ref, var_ref = tb.c[:-1] / tb.c[1:], st["k_xi_free_balanced"](*vals), st["var_xi_free_balanced"](*vals)
    assert close(k_free, k_ref, widen * k_ref.abs())[0]
    assert close(tb.post_coef_xt[1:], k_free)[0]
    assert close(tb.post_var[1:], var_ref, widen * var_ref.abs())[0]
    incr = tb.psi[1:] ** 2 - tb.psi[:-1] ** 2                  # formed by cancellation: compare at ψ_t²'s scale
    ok, err = close(incr, st["psi_sq_increment_balanced"](*vals), scale=10 * tb.psi[1:] ** 2)
    assert ok, err
    assert (tb.psi[1:] > tb.psi[:-1]).all()                  # the deterministic step's ξ-term never vanishes
