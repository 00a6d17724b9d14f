"""DPM-Solver++(2M) with ξ [result 'dpm_solver']: the core jumps, their order, the core sampler and the diffusers
scheduler (step-by-step parity with diffusers' DPMSolverMultistepScheduler at ξ ≡ 0)."""
import math
import warnings

import pytest
import torch

from gendiff.jumps import ddim_step, dpm2m_step, whitened2m_step, whitened_step
from gendiff.sampler_grids import timesteps
from gendiff.samplers import dpm_solver_2m, sample
from gendiff.schedules import make_beta
from gendiff.tables import build_tables
from gendiff.xi import Brightness
from tests.exact_law import output_variance
from tests.test_few_step import LAM, tables

pytest.importorskip("diffusers")
from diffusers import DPMSolverMultistepScheduler  # noqa: E402

from gendiff.integrations.diffusers_dpm import GeneralizedDPMSolverMultistepScheduler, dpm_timesteps  # noqa: E402

T64 = dict(dtype=torch.float64)
SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
          clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading",
          prediction_type="epsilon")
COSINE = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
              timestep_spacing="linspace")


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), **T64)


# ---- the core jumps --------------------------------------------------------------------------------

def test_first_order_and_constant_means_are_the_ddim_jump():
    """[dpm_solver.first_order_is_ddim] and constant means: prev = None, or x̂_0' = x̂_0 and ξ̂' = ξ̂, give ddim_step."""
    tb = build_tables(make_beta("cosine", 50), gamma="balanced")
    x, x0, xi = rand(4, 5, seed=1), rand(4, 5, seed=2), rand(4, 5, seed=3)
    t, s, tp = torch.tensor([40, 40, 12, 2]), torch.tensor([30, 0, 5, 1]), torch.tensor([45, 41, 20, 3])
    want = ddim_step(x, x0, xi, t, s, tb)
    torch.testing.assert_close(dpm2m_step(x, x0, xi, t, s, tb), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dpm2m_step(x, x0, xi, t, s, tb, prev=(tp, x0, xi)), want, rtol=1e-12, atol=1e-12)
    fam = Brightness(sigma_c=1.0)
    torch.testing.assert_close(whitened2m_step(x, x0, t, s, tb, fam, prev=(tp, x0, xi)),
                               whitened_step(x, x0, t, s, tb, fam), rtol=1e-12, atol=1e-12)


def test_the_correction_is_the_midpoint_extrapolation():
    """Second route: x_s − first-order = (α_s − α_t σ_s/σ_t) h/(2h') Δx̂_0 + (c_s − c_t σ_s/σ_t) Δ/(2Δ') Δξ̂,
    from λ and u computed here in float64 from the tables."""
    tb = build_tables(make_beta("linear", 100), gamma="balanced", sigma0=0.8)
    x, x0, xi, x0p, xip = (rand(1, 3, seed=k) for k in range(5))
    t, s, tp = 60, 41, 77
    ab = lambda k: float(tb.alpha_bar[k - 1])     # noqa: E731
    sg = lambda k: 0.8 * (1 - ab(k)) ** 0.5       # noqa: E731
    lam = lambda k: math.log(ab(k) ** 0.5 / sg(k))   # noqa: E731
    u = lambda k: float(tb.c[k - 1]) / sg(k)      # noqa: E731
    r = sg(s) / sg(t)
    corr = ((ab(s) ** 0.5 - ab(t) ** 0.5 * r) * ((lam(s) - lam(t)) / (2 * (lam(t) - lam(tp)))) * (x0 - x0p)
            + (float(tb.c[s - 1]) - float(tb.c[t - 1]) * r) * (u(s) - u(t)) / (2 * (u(t) - u(tp))) * (xi - xip))
    T_ = lambda k: torch.tensor([k])              # noqa: E731
    got = dpm2m_step(x, x0, xi, T_(t), T_(s), tb, prev=(T_(tp), x0p, xip)) - ddim_step(x, x0, xi, T_(t), T_(s), tb)
    torch.testing.assert_close(got, corr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
@pytest.mark.parametrize("rule", ["dpm2m", "whitened2m"])
def test_second_order_on_the_exact_law(schedule, rule):
    """Exact law (Gaussian data, start q(x_T) exactly): the variance error falls by > 3 from 20 to 40 steps for 2M
    (second order; 4 in the limit) and by < 2.1 for the first-order jumps.  Dropping the multistep correction, or
    extrapolating from the wrong previous x̂_0, makes 2M first order."""
    tb, pred, N = tables(schedule, "proposed")
    wT2 = float(tb.alpha_bar[-1]) * LAM + float(tb.c[-1]) ** 2 * N + tb.sigma0**2 * float(tb.one_minus_alpha_bar[-1])

    def err(r, S):
        return abs(output_variance(sample, tb, LAM, N, pred=pred, grid=timesteps(1000, S), rule=r, start_var=wT2)
                   / LAM - 1)
    assert err(rule, 20) / err(rule, 40) > 3
    first = {"dpm2m": "ddim", "whitened2m": "whitened"}[rule]
    assert err(first, 20) / err(first, 40) < 2.1
    assert err(rule, 40) < 0.2 * err(first, 40)


# ---- the diffusers scheduler ----------------------------------------------------------------------------

def model(W):
    return lambda x, k: torch.tanh(x @ W) * (1 + float(k) / 1000.0)


def run(sched, f, x, dtype):
    xs = []
    for k in sched.timesteps:
        x = sched.step(f(x.double(), k).to(dtype), k, x).prev_sample
        xs.append(x.double())
    return xs


@pytest.mark.parametrize("config,spacing,custom", [(SD, "trailing", None), (SD, "leading", [999] + list(range(950, 0, -50))),
                                                   (COSINE, "linspace", None), (COSINE, "trailing", None)])
@pytest.mark.parametrize("jump", ["whitened", "xi"])
def test_parity_with_diffusers_dpm_solver_step_by_step(config, spacing, custom, jump):
    """At ξ ≡ 0 every step equals diffusers' DPMSolverMultistepScheduler(dpmsolver++, 2, midpoint) to ≤ 1e-5 relative
    (SD's scaled_linear ε-config and the cosine v-config; 10 and 20 steps; custom timesteps from 999)."""
    cfg = dict(config, timestep_spacing=spacing)
    W = rand(16, 16, seed=5) / 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++", solver_order=2)
        ours = GeneralizedDPMSolverMultistepScheduler.from_config(cfg, xi_family="dirac", jump=jump)
    for n in ((None,) if custom else (10, 20)):
        if custom:
            ref.set_timesteps(timesteps=custom)
            ours.set_timesteps(timesteps=custom)
        else:
            ref.set_timesteps(n)
            ours.set_timesteps(n)
        assert ours.timesteps.tolist() == ref.timesteps.tolist()
        x = rand(4, 16, seed=6)
        a, b = run(ref, model(W), x.float(), torch.float32), run(ours, model(W), x, torch.float64)
        for xa, xb in zip(a, b):
            assert float((xa - xb).norm() / xb.norm()) <= 1e-5


def test_sd_leading_grid_starts_at_T():
    """SD's 'leading' (steps_offset 1) starts the stock scheduler at k = 941 (20 steps); ours prepends k = 999."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = DPMSolverMultistepScheduler.from_config(SD)
        ours = GeneralizedDPMSolverMultistepScheduler.from_config(SD)
    ref.set_timesteps(20)
    ours.set_timesteps(20)
    assert ref.timesteps[0] == 941
    assert ours.timesteps.tolist() == [999] + ref.timesteps.tolist()
    assert dpm_timesteps(1000, 10, "linspace")[0] == 999
    with pytest.raises(ValueError, match="must start at 999"):
        ours.set_timesteps(timesteps=[951, 500, 1])


@pytest.mark.parametrize("jump", ["whitened", "xi"])
def test_generalized_scheduler_is_the_core_sampler(jump):
    """With ξ (brightness, balanced γ, v) the scheduler's loop equals core dpm_solver_2m on the same grid (float64)."""
    cfg = dict(COSINE, timestep_spacing="trailing")
    sched = GeneralizedDPMSolverMultistepScheduler.from_config(cfg, xi_family="brightness", sigma_c=1.0, jump=jump)
    sched.set_timesteps(12)
    W = rand(8, 8, seed=7) / 3
    f = model(W)
    x = sched.initial_latents((3, 8), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = run(sched, f, x, torch.float64)[-1]
    grid = [int(k) + 1 for k in sched.timesteps]
    want = dpm_solver_2m(lambda xx, t: f(xx, t[0] - 1), (3, 8), sched.tables, sched.xi_family, grid=grid, pred="v",
                         rule={"whitened": "whitened2m", "xi": "dpm2m"}[jump], x_T=x, dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_scheduler_refuses_what_it_does_not_implement():
    for kw in (dict(solver_order=3), dict(algorithm_type="dpmsolver"), dict(solver_type="heun"),
               dict(final_sigmas_type="sigma_min"), dict(use_karras_sigmas=True), dict(jump="euler")):
        with pytest.raises(ValueError, match=list(kw)[0]):
            GeneralizedDPMSolverMultistepScheduler(**kw)
    with pytest.raises(ValueError, match="set_timesteps"):
        GeneralizedDPMSolverMultistepScheduler().step(torch.zeros(1, 2), 999, torch.zeros(1, 2))
