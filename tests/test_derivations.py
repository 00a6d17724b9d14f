"""Every proof holds, and every proved statement is rejected when perturbed (negative controls)."""
import pytest
import sympy as sp

from derivations import (MODULES, balanced, brightness, ddim, ddim_ode, elbo, forward, offset, posterior,
                         vpred, xi_posterior)
from derivations.core import DerivationError, Step, is_zero, require_positive
from derivations.symbols import ABAR, abar_prev, alpha, sigma0

RESULTS = {}


def result(key):
    if key not in RESULTS:
        RESULTS[key] = MODULES[key].derive()
    return RESULTS[key]


@pytest.mark.parametrize("key", list(MODULES))
def test_every_proof_holds(key):
    r = result(key)
    assert r.proved, f"{key}: failed steps {r.failed_steps()}"
    assert len(r.steps) >= 5
    assert r.statements


# One perturbation per proved statement: off by 1 %.  Each must make some proof step fail.
PERTURBED = [(k, s) for k, m in MODULES.items() for s in m.statements()]


@pytest.mark.parametrize("key,statement", PERTURBED)
def test_perturbed_statement_is_rejected(key, statement):
    r = MODULES[key].derive(perturb={statement: lambda e: e * sp.Rational(101, 100)})
    assert not r.proved, f"perturbing {key}.{statement} by 1% went unnoticed"


@pytest.mark.parametrize("key,statement,change", [
    ("forward", "mean_x0", lambda e: e / sp.sqrt(alpha)),            # a missing √α_t
    ("posterior", "coef_x0", lambda e: e / sp.sqrt(abar_prev)),       # a missing √ᾱ_{t-1}
    ("elbo", "phi", lambda e: e * sp.sqrt(1 - ABAR)),                 # an extra √(1-ᾱ_t)
    ("balanced", "gamma", lambda e: e * sp.sqrt(abar_prev)),          # the wrong power of ᾱ_{t-1}
    ("offset", "target_implied", lambda e: e.subs(offset.a_prev, 0)),  # dropping the a_{t-1} term
    ("ddim", "xi_coef_deterministic", lambda e: -e),                   # ψ_t - ψ_{t-1}: the wrong sign
    ("ddim", "k_xi_free_balanced", lambda e: e / sp.sqrt(alpha)),      # a missing √α_t
    ("xi_posterior", "gain_rank_one", lambda e: e.subs(sigma0, 0)),    # σ_0² missing from the denominator
    ("xi_posterior", "gain_target", lambda e: e.subs(xi_posterior.phi, xi_posterior.psi)),  # ψ² where ψϕ belongs
    ("ddim", "var_ddim", lambda e: e / (1 - ddim.ab_t / ddim.ab_s)),   # DDIM's variance without (1-ᾱ_t/ᾱ_s)
    ("ddim", "k_deterministic", lambda e: sp.sqrt(ddim.ab_s / ddim.ab_t)),   # signal ratio for the noise ratio
    ("ddim", "k_ddim", lambda e: e.subs(ddim.eta, 0)),                 # the deterministic k with added noise
    ("ddim_ode", "velocity", lambda e: e.subs(ddim_ode.xi_hat, 0)),    # ξ̂ dropped (the stock update)
])
def test_structural_mistakes_are_rejected(key, statement, change):
    assert not MODULES[key].derive(perturb={statement: change}).proved


def test_closed_form_and_constant_w_verdicts():
    b = result("balanced")
    assert b.statements["K"] == sp.sqrt(balanced.abar_T) / (1 - balanced.abar_T)
    o = result("offset")
    r = o.statements["residual_const_w"].subs({alpha: sp.Rational(9, 10), abar_prev: sp.Rational(1, 2)})
    assert r < 0                                    # constant w is inconsistent at this t ≥ 2


def test_is_zero_is_exact():
    x = sp.Symbol("x", positive=True)
    assert is_zero(sp.sqrt(x)**2 - x)
    assert not is_zero(sp.sqrt(x) - x)
    assert not Step("bad", x, x + sp.Rational(1, 10**12)).check()


def test_bad_input_raises():
    with pytest.raises(DerivationError, match="positive"):
        require_positive(sp.Symbol("a"))
    with pytest.raises(DerivationError, match="T must be >= 1"):
        forward.unroll(0)
    with pytest.raises(DerivationError, match="T must be an int"):
        balanced.algorithm1(2.5)
    with pytest.raises(DerivationError, match="unknown statements"):
        forward.derive(perturb={"nope": lambda e: e})
    with pytest.raises(DerivationError, match="positive"):
        forward.unroll(2, sigma=sp.Symbol("s", real=True))
