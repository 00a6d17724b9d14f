"""The samplers' default start='auto': the prior start, refused where it misses the forward law at t = T
(gendiff.starts.check_prior_start) [start_mismatch.n_max_base, gap_proposed, det_bound].

Each test names the mistake it catches: the check switched off, the boundary n_max moved (τ or ᾱ_T dropped),
c_T² N left out of |w_T|² (the proposed start would be refused), the per-channel n taken as C·H·W, a refusal
that fires on start='prior', a start object or a given x_T, and a diffusers adapter that skips the check.
"""
import math

import pytest
import torch

from gendiff import _reference as R
from gendiff.errors import InputError
from gendiff.integrations.diffusers import GeneralizedDDIMScheduler
from gendiff.methods import make_method
from gendiff.samplers import ancestral, ddim, dpm_solver_2m
from gendiff.schedules import make_beta, rescale_zero_terminal_snr
from gendiff.starts import (ASSUMED_DATA_VAR, START_TOLERANCE, SignalLeak, channel_size, check_prior_start,
                            prior_start_ratio)
from gendiff.tables import build_tables
from gendiff.xi import Brightness, Dirac, PerChannel

T = 1000


def _zero(x, t):
    return torch.zeros_like(x)


def _n_max(schedule):
    ab = torch.prod(1 - make_beta(schedule, T))
    f = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
    return R.start_mismatch_n_max_base(f(ab), f(ASSUMED_DATA_VAR), f(1.0), f(START_TOLERANCE)).item()


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
def test_base_is_refused_exactly_above_n_max(schedule):
    """The boundary is the statement's n_max (linear ≈ 7400, scaled_linear ≈ 67): the last n below it samples,
    the first n above it is refused, by every sampler."""
    tb = build_tables(make_beta(schedule, T), gamma="zero")
    n_max = _n_max(schedule)
    lo_bound, hi_bound = {"linear": (7000, 8000), "scaled_linear": (60, 70)}[schedule]
    assert lo_bound < n_max < hi_bound
    lo, hi = math.floor(n_max), math.floor(n_max) + 1
    assert prior_start_ratio(tb, Dirac(), (1, lo)) <= 1 + START_TOLERANCE < prior_start_ratio(tb, Dirac(), (1, hi))
    for sampler, kw in ((ddim, dict(steps=2)), (dpm_solver_2m, dict(steps=2))):
        assert sampler(_zero, (1, lo), tb, Dirac(), dtype=torch.float64, **kw).shape == (1, lo)
        with pytest.raises(InputError, match=r"start_mismatch\.n_max_base") as e:
            sampler(_zero, (1, hi), tb, Dirac(), dtype=torch.float64, **kw)
        assert "\n" not in str(e.value) and "start='prior'" in str(e.value) and "SignalLeak" in str(e.value)
    with pytest.raises(InputError, match="ρ = "):
        ancestral(_zero, (1, hi), tb, Dirac())


def test_the_ratio_by_a_second_route():
    """ρ = |w_T|²/S_0 from the tables against the vectors w_T = (√ᾱ_T √(nV), c_T √N, σ_0 √(1-ᾱ_T)) by hand."""
    for gamma, fam, sigma_c in (("zero", Dirac(), 0.0), ("balanced", Brightness(sigma_c=0.7), 0.7)):
        tb = build_tables(make_beta("scaled_linear", T), gamma=gamma, sigma0=1.3)
        n = 300
        ab, cT = float(tb.alpha_bar[-1]), float(tb.c[-1])
        w = [math.sqrt(ab * n * ASSUMED_DATA_VAR), cT * math.sqrt(n) * sigma_c, 1.3 * math.sqrt(1 - ab)]
        want = sum(v * v for v in w) / (1.3**2 + n * sigma_c**2)
        assert abs(prior_start_ratio(tb, fam, (5, n)) - want) <= 1e-12 * want


def test_proposed_and_zero_snr_are_never_refused():
    """Balanced γ on scaled_linear: ρ < 1 + ᾱ_T V/σ_c² ≈ 1.0016 up to 256×256 per channel; zero-snr ρ = 1.
    A |w_T|² without c_T² N would put the proposed ρ near ᾱ_T V/σ_c² and refuse it."""
    beta = make_beta("scaled_linear", T)
    tb = build_tables(beta, gamma="balanced")
    lim = 1 + float(tb.alpha_bar[-1]) * ASSUMED_DATA_VAR
    for shape in ((2, 65536), (1, 4, 256, 256)):
        fam = Brightness(sigma_c=1.0) if len(shape) == 2 else PerChannel(sigma_c=1.0)
        assert 1 < prior_start_ratio(tb, fam, shape) < lim
        check_prior_start(tb, fam, shape)
    z = build_tables(rescale_zero_terminal_snr(beta), gamma="zero")
    assert abs(prior_start_ratio(z, Dirac(), (1, 4, 256, 256)) - 1) < 1e-12
    check_prior_start(z, Dirac(), (1, 4, 256, 256))


def test_n_is_per_channel():
    """(B, C, H, W) counts n = H·W per channel: 4×8×8 base on scaled_linear (n = 64 < 67) samples; C·H·W = 256
    would refuse it."""
    assert channel_size((3, 4, 8, 8)) == 64 and channel_size((3, 17)) == 17
    tb = build_tables(make_beta("scaled_linear", T), gamma="zero")
    assert ddim(_zero, (1, 4, 8, 8), tb, Dirac(), steps=2).shape == (1, 4, 8, 8)
    with pytest.raises(InputError):
        ddim(_zero, (1, 4, 16, 16), tb, Dirac(), steps=2)


def test_explicit_starts_are_not_checked():
    """start='prior', a start object and a given x_T sample where 'auto' refuses; the leak start there has ρ = 1."""
    beta = make_beta("scaled_linear", T)
    tb = build_tables(beta, gamma="zero")
    shape = (4, 1024)
    with pytest.raises(InputError):
        ddim(_zero, shape, tb, Dirac(), steps=2)
    g = torch.Generator().manual_seed(0)
    assert ddim(_zero, shape, tb, Dirac(), steps=2, start="prior", generator=g).shape == shape
    leak = SignalLeak(mean=[0.0], var=[ASSUMED_DATA_VAR])
    assert ddim(_zero, shape, tb, Dirac(), steps=2, start=leak, generator=g).shape == shape
    assert ddim(_zero, shape, tb, Dirac(), steps=2, x_T=torch.zeros(shape)).shape == shape
    m = make_method("base-signal-leak", beta, leak=leak)
    assert m.start is leak
    with pytest.raises(ValueError, match="'auto', 'prior'"):
        ddim(_zero, shape, tb, Dirac(), steps=2, start="Prior")


def test_short_schedules_are_refused_for_every_method():
    """T = 20 linear leaves ᾱ_T ≈ 0.8: the prior start misses for base and proposed alike (ρ ≈ 1.7 at n = 16)."""
    beta = make_beta("linear", 20)
    for gamma, fam in (("zero", Dirac()), ("balanced", PerChannel(sigma_c=0.5))):
        with pytest.raises(InputError, match="outside"):
            ddim(_zero, (2, 1, 4, 4), build_tables(beta, gamma=gamma), fam, steps=5)


def test_diffusers_initial_latents_check_the_start():
    """The adapter's initial_latents refuses where the core does, and start='prior' skips the check."""
    sched = GeneralizedDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                     xi_family="dirac")
    with pytest.raises(InputError, match=r"n = 4096 per channel"):
        sched.initial_latents((1, 4, 64, 64))
    x = sched.initial_latents((1, 4, 64, 64), generator=torch.Generator().manual_seed(0), start="prior")
    assert x.shape == (1, 4, 64, 64)
    assert sched.initial_latents((1, 4, 8, 8)).shape == (1, 4, 8, 8)
