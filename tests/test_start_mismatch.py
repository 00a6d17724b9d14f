"""Result 'start_mismatch': proved, structural mistakes rejected, generated functions equal the statements."""
import pytest
import sympy as sp
import torch

from derivations import start_mismatch as sm
from derivations.symbols import abar_T, sigma0
from gendiff import _reference as R


@pytest.fixture(scope="module")
def proved():
    return sm.derive()


def test_proved(proved):
    assert proved.proved, proved.failed_steps()
    assert len(proved.steps) >= 40


@pytest.mark.parametrize("statement,change", [
    ("leak_noise_var", lambda e: sigma0**2),                             # unit-variance noise instead of σ_0²(1-ᾱ_T)
    ("leak_mean", lambda e: e / sp.sqrt(abar_T)),                         # offset without the √ᾱ_T factor
    ("leak_var", lambda e: e.subs(sm.c_T, 0) + sm.c_T * sm.Nx),          # c_T instead of c_T²
    ("start_proposed", lambda e: sigma0**2),                              # ξ forgotten in the proposed start
    ("ratio_base", lambda e: 1 + abar_T * sm.lam / sigma0**2),            # 1 + r: dropping -ᾱ_T
    ("ratio_proposed", lambda e: e.subs(sm.Nx, 0)),                       # the base ratio for the proposed one
    ("kl", lambda e: (sm.rho - 1 + sm.d2) / 2),                           # KL without -log ρ
    ("kl", lambda e: e.subs(sm.d2, 0)),                                   # mean shift dropped
    ("jump_factor", lambda e: e.subs(sm.c_s, 0)),                         # ξ̂ term dropped from the jump
    ("jump_factor", lambda e: e * sp.sqrt(sm.ab_t / sm.ab_s)),            # ancestral k in the deterministic jump
    ("jump_gains", lambda e: e.subs(sm.kk, 1)),                           # residual kept whole (k = 1)
    ("anc_factor", lambda e: e.subs(sm.c_s, 0)),                          # ξ̂ term dropped from the ancestral step
    ("gain_x0", lambda e: e / sp.sqrt(sm.ab_t)),                          # Cov(z_0, z_t) without √ᾱ_t
    ("start_scaling", lambda e: sm.S0),                                   # S_0 not divided by |w_T|²
    ("step_var", lambda e: sm.kk * sm.Vt + sm.s2),                        # J instead of J²
    ("step_var", lambda e: sm.kk**2 * sm.Vt),                             # noise forgotten (t ≥ 2)
    ("cs_gap", lambda e: sp.Add(*e.args[:-1])),                           # one of Lagrange's three squares missing
    ("lim_ratio_proposed", lambda e: 1 + abar_T * sm.V / sigma0**2),      # σ_0² where σ_c² belongs
    ("n_max_base", lambda e: sigma0**2 * sm.tau / (abar_T * sm.V)),       # threshold from 1 + r, -ᾱ_T dropped
    ("n_max_base", lambda e: sm.tau / (abar_T * sm.V)),                   # σ_0² forgotten
    ("gap_proposed", lambda e: e.subs(sm.V, 0)),                          # data term dropped from the gap
    ("floor_gap", lambda e: abar_T * sm.lam / (sigma0**2 + sm.Nx)),       # ξ variance dropped from the numerator
])
def test_structural_mistakes_rejected(statement, change):
    assert not sm.derive(perturb={statement: change}).proved


def _rand(g, *shape, lo=0.05, hi=0.95):
    return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64)


def test_generated_functions_equal_statements():
    """Generated code vs the statements evaluated by SymPy at random points (and the vector form J = w_s·w_t/|w_t|²)."""
    g = torch.Generator().manual_seed(3)
    st = sm.statements()
    for _ in range(20):
        at, as_ = sorted(_rand(g, 2).tolist())
        ct, cs, lam, N, s0 = (_rand(g, 1, lo=-2, hi=2).item(), _rand(g, 1, lo=-2, hi=2).item(),
                              _rand(g, 1, hi=50).item(), _rand(g, 1, hi=50).item(), _rand(g, 1, lo=0.3, hi=2).item())
        T = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
        sub = {sm.ab_t: at, sm.ab_s: as_, sm.c_t: ct, sm.c_s: cs, sm.lam: lam, sm.Nx: N, sigma0: s0}
        wsq = float(st["wsq"].subs(sub))
        assert abs(R.start_mismatch_wsq(T(at), T(ct), T(lam), T(N), T(s0)).item() - wsq) <= 1e-12 * wsq
        g0, gx = R.start_mismatch_gains(T(at), T(ct), T(lam), T(N), T(s0))
        J = R.start_mismatch_jump_factor(T(at), T(as_), T(ct), T(cs), T(lam), T(N), T(s0)).item()
        Jd = R.start_mismatch_ddim_factor(T(at), T(as_), T(ct), T(cs), g0, gx).item()
        wt = torch.tensor([at**0.5 * lam**0.5, ct * N**0.5, s0 * (1 - at)**0.5], dtype=torch.float64)
        ws = torch.tensor([as_**0.5 * lam**0.5, cs * N**0.5, s0 * (1 - as_)**0.5], dtype=torch.float64)
        Jv = float(ws @ wt / (wt @ wt))
        assert abs(J - Jv) <= 1e-12 * abs(Jv) + 1e-14 and abs(Jd - Jv) <= 1e-12 * abs(Jv) + 1e-14
        cos2 = float((ws @ wt) ** 2 / ((ws @ ws) * (wt @ wt)))
        assert cos2 <= 1 + 1e-15 and abs(J**2 * float(wt @ wt) / float(ws @ ws) - cos2) <= 1e-12
        rho_, d2_ = _rand(g, 1, lo=0.01, hi=20).item(), _rand(g, 1, hi=3).item()
        kl = float(st["kl"].subs({sm.rho: rho_, sm.d2: d2_}))
        assert abs(R.start_mismatch_kl(T(rho_), T(d2_)).item() - kl) <= 1e-12 * max(kl, 1e-3)


def test_kl_direction_and_limits():
    """KL(q ‖ p) of two zero-mean Gaussians by quadrature vs the closed form, and the n → ∞ regimes."""
    vq, vp = 3.0, 0.7  # float64 throughout
    x = torch.linspace(-40, 40, 400001, dtype=torch.float64)
    lq = -x**2 / (2 * vq) - 0.5 * torch.log(torch.tensor(2 * torch.pi * vq, dtype=torch.float64))
    lp = -x**2 / (2 * vp) - 0.5 * torch.log(torch.tensor(2 * torch.pi * vp, dtype=torch.float64))
    kl_num = float(torch.trapezoid(lq.exp() * (lq - lp), x))
    assert abs(kl_num - R.start_mismatch_kl(torch.tensor(vq / vp, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)).item()) < 1e-9
    st = sm.statements()
    prop = st["ratio_proposed"].subs({sm.lam: 10**6 * sm.V, sm.Nx: 10**6 * sm.sigma_c**2})
    lim = st["lim_ratio_proposed"]
    vals = {abar_T: sp.Rational(47, 10000), sm.V: sp.Rational(1, 3), sm.sigma_c: 1, sigma0: 1}
    assert abs(float(prop.subs(vals)) - float(lim.subs(vals))) < 1e-5


@pytest.mark.parametrize("statement,change", [
    ("whitened_gains", lambda e: e.subs(sm.Ns, 0)),                        # the ξ variance left out of C (DDIM's k)
    ("whitened_gains", lambda e: e.subs(sm.c_s, sm.c_t)),                  # C_t where C_s belongs
    ("whitened_factor", lambda e: e.subs(sm.c_s, 0)),                      # c_s dropped from C_s
    ("w_cov", lambda e: e.subs(sm.c_t, 1)),                                # c_t² forgotten
    ("w2m_zt", lambda e: e.subs(sm.om, 0)),                                # extrapolation dropped from z_t's term
    ("w2m_zp", lambda e: e.subs(sm.g0p, sm.g0)),                           # gain at t where the gain at p belongs
    ("w2m_weight", lambda e: e * 2),                                       # h/h' instead of h/(2h')
    ("w2m_weight", lambda e: e.subs(sm.Ns, 0) if e.has(sm.Ns) else e + 1),  # DPM-Solver's λ for the whitened ℓ
])
def test_whitened_structural_mistakes_rejected(statement, change):
    assert not sm.derive(perturb={statement: change}).proved


def test_generated_whitened_functions_equal_statements():
    """start_mismatch_whitened_factor / _w2m_weight / _w2m_coefs against SymPy at random points."""
    g = torch.Generator().manual_seed(4)
    st = sm.statements()
    T = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    for _ in range(10):
        ap, at, as_ = sorted(_rand(g, 3).tolist())
        ct, cs, cp = (_rand(g, 1, lo=-2, hi=2).item() for _ in range(3))
        Ns, s0, g0, g0p, k, om = (_rand(g, 1, hi=30).item(), _rand(g, 1, lo=0.3, hi=2).item(),
                                  *(_rand(g, 1, lo=-1, hi=1).item() for _ in range(4)))
        sub = {sm.ab_t: at, sm.ab_s: as_, sm.ab_p: ap, sm.c_t: ct, sm.c_s: cs, sm.c_p: cp, sm.Ns: Ns, sigma0: s0,
               sm.g0: g0, sm.g0p: g0p, sm.kk: k, sm.om: om}
        got = R.start_mismatch_whitened_factor(T(at), T(as_), T(ct), T(cs), T(Ns), T(s0), T(g0)).item()
        assert abs(got - float(st["whitened_gains"].subs(sub))) <= 1e-12
        got = R.start_mismatch_w2m_weight(T(at), T(as_), T(ap), T(ct), T(cs), T(cp), T(Ns), T(s0)).item()
        want = float(st["w2m_weight"].subs(sub))
        assert abs(got - want) <= 1e-10 * max(1.0, abs(want))
        a, b = R.start_mismatch_w2m_coefs(T(at), T(as_), T(k), T(om), T(g0), T(g0p))
        assert abs(a.item() - float(st["w2m_zt"].subs(sub))) <= 1e-12
        assert abs(b.item() - float(st["w2m_zp"].subs(sub))) <= 1e-12


def test_generated_threshold_equals_statement_and_bounds_the_ratio():
    """start_mismatch_n_max_base against SymPy, and ρ(n) of ratio_base on either side of it (1 + τ crossed)."""
    st = sm.statements()
    T = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    for ab, V, s0, tau in ((4.036e-5, 1 / 3, 1.0, 0.1), (0.00466, 0.2, 0.7, 0.05), (0.3, 1.0, 2.0, 0.5)):
        want = float(st["n_max_base"].subs({abar_T: ab, sm.V: V, sigma0: s0, sm.tau: tau}))
        got = R.start_mismatch_n_max_base(T(ab), T(V), T(s0), T(tau)).item()
        assert abs(got - want) <= 1e-12 * want
        rho = lambda n: float(st["ratio_base"].subs({abar_T: ab, sm.lam: n * V, sigma0: s0}))  # noqa: E731
        assert rho(got * 0.999) < 1 + tau < rho(got * 1.001)
