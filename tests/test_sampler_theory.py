"""The few-step theory: the groups 'jump_variance' and 'dpm_solver' hold, reject structural mistakes, and
agree with the code that uses them (gendiff.sampler_grids.first_step_loss, gendiff.jumps)."""
import math

import pytest
import sympy as sp
import torch

from derivations import MODULES, dpm_solver, jump_variance
from derivations.symbols import alpha
from gendiff.sampler_grids import first_step_loss
from gendiff.schedules import make_beta
from gendiff.tables import build_tables

WS = jump_variance.vec(jump_variance.ab_s, jump_variance.c_s)


@pytest.mark.parametrize("key", ["jump_variance", "dpm_solver"])
def test_groups_are_proved(key):
    r = MODULES[key].derive()
    assert r.proved, r.failed_steps()


@pytest.mark.parametrize("key,statement,change", [
    ("jump_variance", "gain_frozen", lambda e: sp.numer(e) / jump_variance.dot(WS, WS)),     # |w_s|² for |w_t|²
    ("jump_variance", "cos2", lambda e: e.subs(jump_variance.N, 0)),                     # the ξ axis left out
    ("jump_variance", "first_step_sin2_limit", lambda e: e.subs(sp.sqrt(alpha), alpha)),  # α_T for √α_T
    ("jump_variance", "first_step_rho_star", lambda e: e**2),                            # 1/α_T
    ("jump_variance", "whitened_gain", lambda e: e.subs(jump_variance.lam, 0)),          # data term dropped
    ("jump_variance", "sqrt_rank_one", lambda e: e.subs(jump_variance.m, 1)),            # group size dropped
    ("jump_variance", "inv_sqrt_rank_one", lambda e: -e),                                # wrong sign
    ("dpm_solver", "update_2m", lambda e: e.subs(dpm_solver.x0_prev, dpm_solver.x0_hat)),  # correction dropped
    ("dpm_solver", "update_2m", lambda e: e.subs(dpm_solver.xi_prev, dpm_solver.xi_hat)),  # ξ̂ correction dropped
    ("dpm_solver", "midpoint_weight", lambda e: 2 * e),                                  # h/h' (no 1/2)
    ("dpm_solver", "local_error_2m", lambda e: e * 2),                                   # h³/6
    ("dpm_solver", "first_order", lambda e: e.subs(dpm_solver.c_s, 0)),                  # c_s ξ̂ term dropped
])
def test_structural_mistakes_are_rejected(key, statement, change):
    assert not MODULES[key].derive(perturb={statement: change}).proved


def test_first_step_loss_matches_the_limit_statement():
    """Code (float64 tables, ᾱ_{T-1} ≈ 2e-6 on cosine) against the proved ᾱ_{T-1} → 0 limit, and its maximum."""
    tb = build_tables(make_beta("cosine"), gamma="balanced")
    sin2 = jump_variance.statements()["first_step_sin2_limit"]
    aT = float(tb.alpha[-1])
    for rho in (1.0, 31.6, 256.0, 1024.0, 4096.0):
        want = float(sin2.subs({alpha: aT, jump_variance.rho: rho}))
        assert first_step_loss(tb, rho) == pytest.approx(want, rel=1e-4)
    assert first_step_loss(tb, 256.0) == pytest.approx(0.743, abs=2e-3)       # the docstrings' figure
    peak = float(jump_variance.statements()["first_step_sin2_max"].subs(alpha, aT))
    assert first_step_loss(tb, 1 / math.sqrt(aT)) == pytest.approx(peak, rel=1e-4)
    assert first_step_loss(build_tables(make_beta("linear"), gamma="balanced"), 256.0) < 1e-4
    assert first_step_loss(tb, 0.0) == 0.0


def test_first_step_loss_is_the_cos2_of_the_tables():
    """Independent route: the angle of the 3-vectors w with the data term 0, from the tables' c and 1-ᾱ."""
    tb = build_tables(make_beta("cosine"), gamma="balanced")
    N = 100.0
    wt = torch.tensor([float(tb.c[-1]) * N**0.5, float(tb.one_minus_alpha_bar[-1]) ** 0.5], dtype=torch.float64)
    ws = torch.tensor([float(tb.c[-2]) * N**0.5, float(tb.one_minus_alpha_bar[-2]) ** 0.5], dtype=torch.float64)
    cos = float(wt @ ws / (wt.norm() * ws.norm()))
    assert first_step_loss(tb, N) == pytest.approx(1 - cos**2, rel=1e-9)
