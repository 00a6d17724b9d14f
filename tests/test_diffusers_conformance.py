"""What diffusers expects of its own DDPM/DDIM schedulers, checked here at ξ ≡ 0 against the stock scheduler
(float64 tables from the same β; relative error ≤ 1e-10) and with ξ where it applies.

Off-grid timesteps, dynamic thresholding and clipping (both use_clipped_model_output settings),
prediction_type 'sample', variance_type 'fixed_large', previous_timestep's type, 0-based messages,
one-line ValueErrors for bad configurations and calls, from_config/save/load round trips with the stock
DDPM, DDIM, PNDM, Euler and DPM-Solver configurations, `_compatibles`.
"""
import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,  # noqa: E402
                       EulerDiscreteScheduler, PNDMScheduler)

from gendiff import _reference as R  # noqa: E402
from gendiff.estimates import split_output  # noqa: E402
from gendiff.integrations.diffusers import GeneralizedDDIMScheduler, GeneralizedDDPMScheduler  # noqa: E402
from gendiff.samplers import ddim_step  # noqa: E402
from gendiff.xi import PerChannel  # noqa: E402

F64 = dict(dtype=torch.float64)
SHAPE = (2, 3, 4, 4)
SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def stock64(Stock, **cfg):
    """The stock scheduler with float64 tables built from the same β by its own recursions."""
    s = Stock(**cfg)
    ours = GeneralizedDDPMScheduler(xi_family="dirac", **{k: v for k, v in cfg.items() if k in (
        "beta_schedule", "beta_start", "beta_end", "rescale_betas_zero_snr", "num_train_timesteps")})
    s.betas = ours.betas.clone()
    s.alphas = 1.0 - s.betas
    s.alphas_cumprod = torch.cumprod(s.alphas, 0)
    if isinstance(s, DDIMScheduler):
        s.final_alpha_cumprod = torch.tensor(1.0, **F64) if s.config.set_alpha_to_one else s.alphas_cumprod[0]
    return s


def pair(kind, **cfg):
    Stock, Ours = (DDPMScheduler, GeneralizedDDPMScheduler) if kind == "ddpm" else (DDIMScheduler, GeneralizedDDIMScheduler)
    cfg.setdefault("clip_sample", False)
    cfg.setdefault("timestep_spacing", "leading" if kind == "ddpm" else "trailing")   # see grid()
    return Ours(xi_family="dirac", **cfg), stock64(Stock, **cfg)


def grid(ours, stock):
    """The timesteps both share: stock's, after a first step t = T that the core grid may prepend.

    DDPM is compared on 'leading' grids, whose last timestep is 0: where it is > 0 ('trailing') stock DDPM
    adds noise at the last jump too (std 1e-10 with fixed_small, √(1-ᾱ_k) with fixed_large); gendiff adds none.
    """
    ks = stock.timesteps.tolist()
    assert ours.timesteps.tolist()[-len(ks):] == ks and len(ours.timesteps) - len(ks) in (0, 1)
    return ks


def compare(ours, stock, ks, scale=1.0, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    err = 0.0
    for k in ks:
        x = torch.randn(SHAPE, generator=g, **F64)
        out = scale * torch.randn(SHAPE, generator=g, **F64)
        a = ours.step(out, k, x, generator=torch.Generator().manual_seed(7), **kw)
        b = stock.step(out, k, x, generator=torch.Generator().manual_seed(7), **kw)
        err = max(err, rel(a.prev_sample, b.prev_sample), rel(a.pred_original_sample, b.pred_original_sample))
    return err


@pytest.mark.parametrize("spacing,offset", [("trailing", 0), ("leading", 0), ("leading", 1), ("linspace", 0)])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_off_grid_timesteps_follow_the_stock_rule(spacing, offset, eta):
    """step at timesteps set_timesteps did not produce: prev = k − T // n (below 0: the final x_0)."""
    ours, stock = pair("ddim", timestep_spacing=spacing, steps_offset=offset)
    for s in (ours, stock):
        s.set_timesteps(50)
    grid = set(ours.timesteps.tolist())
    ks = [k for k in (0, 1, 10, 19, 49, 333, 777, 998) if k not in grid]
    assert len(ks) >= 6
    assert compare(ours, stock, ks, eta=eta) <= 1e-10
    for k in ks:
        assert ours.previous_timestep(k) == max(k - 20, -1)


def test_off_grid_jump_with_xi_goes_to_the_stock_timestep():
    sched = GeneralizedDDIMScheduler(sigma_c=0.6, **SD)
    sched.set_timesteps(25)                                   # T // n = 40
    g = torch.Generator().manual_seed(1)
    x, out = torch.randn(SHAPE, generator=g, **F64), torch.randn(SHAPE, generator=g, **F64)
    for k in (555, 30):
        t = torch.full((2,), k + 1)
        x0, xi = split_output(out, x, t, sched.tables, sched.xi_family)
        s = torch.full((2,), max(k - 40, -1) + 1)
        assert torch.allclose(sched.step(out, k, x).prev_sample, ddim_step(x, x0, xi, t, s, sched.tables), atol=1e-12)
    gen = GeneralizedDDPMScheduler(sigma_c=0.6)
    gen.set_timesteps(25)
    assert gen.previous_timestep(555) == 515 and gen.previous_timestep(30) == -1


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("use_clipped", [False, True])
@pytest.mark.parametrize("opt", ["threshold", "clip"])
def test_thresholding_and_clipping_match_stock(kind, use_clipped, opt):
    cfg = dict(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=2.5) if opt == "threshold" \
        else dict(clip_sample=True, clip_sample_range=1.5)
    if kind == "ddpm" and use_clipped:
        pytest.skip("DDPM takes no use_clipped_model_output (its posterior mean uses the clipped x̂_0)")
    ours, stock = pair(kind, **cfg)
    for s in (ours, stock):
        s.set_timesteps(10)
    kw = dict(use_clipped_model_output=use_clipped, eta=0.3) if kind == "ddim" else {}
    ks = grid(ours, stock)
    assert compare(ours, stock, ks, scale=3.0, **kw) <= 1e-10
    plain, _ = pair(kind)
    plain.set_timesteps(10)
    assert compare(plain, stock, ks, scale=3.0, **kw) > 1e-3           # the option changes the output here


def test_dynamic_threshold_semantics():
    """Per sample s = quantile(|x̂_0|, ratio) clamped to [1, sample_max_value]; x̂_0 ← clamp(x̂_0, −s, s)/s."""
    from gendiff.integrations.diffusers_step import threshold
    x = torch.tensor([[0.5, -4.0, 2.0, 1.0], [0.1, 0.2, -0.3, 0.4], [9.0, -9.0, 9.0, 9.0]], **F64)
    got = threshold(x, 0.5, 3.0)
    s = torch.tensor([1.5, 1.0, 3.0], **F64)[:, None]        # medians of |x|: 1.5, 0.25 → 1, 9 → 3
    assert torch.equal(got, torch.clamp(x, -s, s) / s)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_sample_prediction_matches_stock(kind):
    ours, stock = pair(kind, prediction_type="sample")
    for s in (ours, stock):
        s.set_timesteps(20)
    kw = dict(eta=0.4) if kind == "ddim" else {}
    assert compare(ours, stock, grid(ours, stock), **kw) <= 1e-10


def test_sample_prediction_xi_equals_the_generated_reference():
    """ξ̂ from an x_0-output: the gain applied to eta_from_sample (the generated reference) per channel."""
    sched = GeneralizedDDIMScheduler(sigma_c=0.7, sigma0=0.9, prediction_type="sample", **SD)
    tb, fam = sched.tables, PerChannel(sigma_c=0.7)
    g = torch.Generator().manual_seed(3)
    x, out = torch.randn(SHAPE, generator=g, **F64), torch.randn(SHAPE, generator=g, **F64)
    t = torch.tensor([900, 40])
    x0, xi = split_output(out, x, t, tb, fam, pred="sample")
    ab = tb.alpha_bar[t - 1].reshape(-1, 1, 1, 1)
    u = R.eta_from_sample(out, x, ab)
    gain = R.xi_gain_rank_one(tb.psi[t - 1].reshape(-1, 1, 1, 1), torch.tensor(0.9, **F64), torch.tensor(0.7, **F64), 16)
    assert torch.equal(x0, out)
    assert torch.allclose(xi, gain * u.sum((2, 3), keepdim=True).expand_as(u), atol=1e-12)


def test_sample_statement_negative_control():
    """A structural mistake in u_from_sample (1-ᾱ_t for √(1-ᾱ_t)) is rejected by the proof."""
    from derivations import xi_posterior as X           # the unperturbed proof: tests/test_derivations.py
    wrong = {"u_from_sample": lambda e: e * X.sp.sqrt(1 - X.ab) / (1 - X.ab)}
    assert not X.derive(perturb=wrong).proved


@pytest.mark.parametrize("steps", [25, 1000])
def test_fixed_large_matches_stock(steps):
    ours, stock = pair("ddpm", variance_type="fixed_large")
    for s in (ours, stock):
        s.set_timesteps(steps)
    ks = grid(ours, stock)
    assert compare(ours, stock, ks[:30] + ks[-30:]) <= 1e-10
    small, _ = pair("ddpm")
    small.set_timesteps(steps)
    assert compare(small, stock, [ks[-3]]) > 1e-3


def test_previous_timestep_keeps_the_input_type():
    for Sched in (GeneralizedDDPMScheduler, GeneralizedDDIMScheduler):
        s = Sched(xi_family="dirac")
        s.set_timesteps(10)
        assert type(s.previous_timestep(999)) is int and s.previous_timestep(999) == 899
        for dt in (torch.long, torch.int32):
            p = s.previous_timestep(torch.tensor(99, dtype=dt))
            assert torch.is_tensor(p) and p.dtype == dt and p.shape == () and int(p) == -1
        stock = DDPMScheduler(timestep_spacing="trailing")
        stock.set_timesteps(10)
        assert int(stock.previous_timestep(torch.tensor(999))) == s.previous_timestep(999)


def one_line(exc):
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_messages_speak_in_0_based_timesteps():
    s = GeneralizedDDIMScheduler(sigma_c=0.5)
    s.set_timesteps(10)
    x = torch.randn(SHAPE)
    for k in (1000, -1):
        with pytest.raises(ValueError) as e:
            s.step(x, k, x)
        assert "0..999" in one_line(e) and str(k) in str(e.value) and "1..1000" not in str(e.value)
    with pytest.raises(ValueError) as e:
        s.add_noise(x, x, torch.tensor([3, 1000]), s.sample_xi(x.shape))
    assert "0..999" in one_line(e) and "1000" in str(e.value)
    with pytest.raises(ValueError) as e:
        s.set_timesteps(timesteps=[1000, 5])
    assert "0..999" in one_line(e)
    for bad in (2.5, float("nan"), "999"):
        with pytest.raises(TypeError) as e:
            s.step(x, bad, x)
        assert "0-based" in one_line(e)


@pytest.mark.parametrize("call,msg", [
    (lambda s, x: s.add_noise(x, x, torch.tensor([1, 2, 3]), s.sample_xi(x.shape)), "one per sample"),
    (lambda s, x: s.get_target(x, x, s.sample_xi(x.shape), torch.tensor([1, 2, 3])), "one per sample"),
    (lambda s, x: s.get_velocity(x, x, torch.tensor([1, 2, 3]), s.sample_xi(x.shape)), "one per sample"),
    (lambda s, x: s.set_timesteps(0), "num_inference_steps"),
    (lambda s, x: s.set_timesteps(1001), "num_inference_steps"),
    (lambda s, x: s.set_timesteps(10, timesteps=[5]), "exactly one"),
])
def test_bad_calls_raise_one_line(call, msg):
    s = GeneralizedDDPMScheduler(sigma_c=0.5)
    with pytest.raises(ValueError, match=msg) as e:
        call(s, torch.randn(SHAPE))
    one_line(e)


@pytest.mark.parametrize("kw", [dict(num_train_timesteps=0), dict(num_train_timesteps=-3), dict(steps_offset=-1),
                                dict(clip_sample_range=0.0), dict(sample_max_value=float("inf")),
                                dict(dynamic_thresholding_ratio=-0.1), dict(prediction_type="x0")])
def test_bad_configurations_raise_one_line(kw):
    for Sched in (GeneralizedDDPMScheduler, GeneralizedDDIMScheduler):
        with pytest.raises(ValueError, match=next(iter(kw))) as e:
            Sched(**kw)
        one_line(e)
    with pytest.raises(ValueError, match="learned") as e:
        GeneralizedDDPMScheduler(variance_type="learned_range")
    one_line(e)


STOCKS = [DDPMScheduler(**SD, steps_offset=1), DDIMScheduler(**SD, set_alpha_to_one=False, steps_offset=1),
          PNDMScheduler(**SD, skip_prk_steps=True, steps_offset=1), EulerDiscreteScheduler(**SD, use_karras_sigmas=True),
          DPMSolverMultistepScheduler(**SD, solver_order=3, prediction_type="v_prediction")]


def public(cfg):
    return {k: (list(v) if isinstance(v, (tuple, np.ndarray)) else v) for k, v in cfg.items() if not k.startswith("_")}


@pytest.mark.parametrize("stock", STOCKS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("Ours", [GeneralizedDDPMScheduler, GeneralizedDDIMScheduler])
def test_from_stock_config_keeps_every_value(stock, Ours, tmp_path):
    ours = Ours.from_config(stock.config, sigma_c=0.3)
    sc = public(stock.config)
    assert {k: public(ours.config)[k] for k in sc} == sc          # shared keys equal, the others kept
    assert ours.config.sigma_c == 0.3
    back = type(stock).from_config(ours.config)
    assert {k: public(back.config)[k] for k in sc} == sc
    ours.save_pretrained(tmp_path)
    loaded = Ours.from_pretrained(tmp_path)
    assert public(loaded.config) == public(ours.config)
    assert torch.equal(loaded.tables.beta, ours.tables.beta) and torch.equal(loaded.tables.psi, ours.tables.psi)


def test_compatibles_are_the_stock_classes():
    for Ours in (GeneralizedDDPMScheduler, GeneralizedDDIMScheduler):
        names = Ours._compatibles
        assert {"DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler",
                "DPMSolverMultistepScheduler"} <= set(names)
        assert all(isinstance(getattr(diffusers, n), type) for n in names)
        assert set(names) == set(DDIMScheduler._compatibles)
        assert {type(c).__name__ for c in [DDIMScheduler.from_config(Ours().config)]} == {"DDIMScheduler"}


def test_jump_coefficients_are_computed_once_per_set_timesteps(monkeypatch):
    """step validates and builds a jump's coefficients once per set_timesteps (and η), not once per call; a
    configuration edited in place (as StableDiffusionPipeline does with clip_sample) applies at set_timesteps."""
    import gendiff.integrations.diffusers_base as base
    calls = []
    real = base.jump_coefs
    monkeypatch.setattr(base, "jump_coefs", lambda *a, **k: calls.append(a[1:3]) or real(*a, **k))
    s = GeneralizedDDIMScheduler(sigma_c=0.5)
    x = 3 * torch.randn(SHAPE)
    for _ in range(2):
        s.set_timesteps(5)
        for _ in range(3):
            for k in s.timesteps:
                s.step(x, k, x)
    assert len(calls) == 10 and len(set(calls)) == 5
    s.register_to_config(clip_sample=True)
    s.set_timesteps(5)
    assert s.step(x, 999, x).pred_original_sample.abs().max() <= 1.0


@pytest.mark.parametrize("steps", [1, 10, 50, 999, 1000])
@pytest.mark.parametrize("offset", [0, 1])
def test_a_core_grid_that_starts_at_T(steps, offset):
    """set_timesteps takes its grid from gendiff.samplers.timesteps; where that grid gets t = T prepended
    ('leading' starts below T), steps_offset moves the other steps only, and after the first step the
    jumps equal stock's (SD's DDIM settings: steps_offset=1, set_alpha_to_one=False)."""
    cfg = dict(timestep_spacing="leading", steps_offset=offset, set_alpha_to_one=False)
    ours, stock = pair("ddim", **cfg)
    if offset and steps == 1000:
        with pytest.raises(ValueError, match="steps_offset"):
            ours.set_timesteps(steps)
        return
    for s in (ours, stock):
        s.set_timesteps(steps)
    ks = grid(ours, stock)
    assert ours.timesteps[0] == 999 and len(ours.timesteps) == len(ks) + (ks[0] != 999)
    assert compare(ours, stock, ks[:20] + ks[-20:], eta=0.3) <= 1e-10


def test_initial_latents_from_a_start_object():
    """initial_latents(start=...) returns start.draw(shape, tables, xi_family, generator=, device=, dtype=)."""
    class Stub:
        def draw(self, shape, tables, xi_family, *, generator, device, dtype):
            self.seen = (shape, tables, xi_family, generator, device, dtype)
            return torch.full(shape, 7.0, dtype=dtype, device=device)
    s, stub, g = GeneralizedDDIMScheduler(sigma_c=0.5), Stub(), torch.Generator().manual_seed(0)
    x = s.initial_latents([2, 3, 4, 4], generator=g, dtype=torch.float64, start=stub)
    assert torch.equal(x, torch.full((2, 3, 4, 4), 7.0, **F64))
    assert stub.seen == ((2, 3, 4, 4), s.tables, s.xi_family, g, None, torch.float64)
    assert not torch.equal(s.initial_latents((2, 3, 4, 4), generator=g, dtype=torch.float64), x)


def test_base_class_serves_a_subclass_with_a_smaller_configuration():
    """GeneralizedSchedulerBase for other schedulers: a configuration without the step options (thresholding,
    clip_sample, steps_offset, ...) takes diffusers' defaults; _jump and _ddim give the DDIM jump."""
    from diffusers.configuration_utils import register_to_config
    from gendiff.integrations.diffusers_base import GeneralizedSchedulerBase

    class Minimal(GeneralizedSchedulerBase):
        @register_to_config
        def __init__(self, *, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                     trained_betas=None, prediction_type="epsilon", timestep_spacing="trailing",
                     rescale_betas_zero_snr=False, sigma0=1.0, xi_family="per_channel", sigma_c=0.5, gamma="balanced"):
            self._setup()

        def step(self, model_output, timestep, sample):
            t, s = self._jump(timestep)
            return self._ddim(model_output, t, s, sample, 0.0, None, None)[0]

    m, ref = Minimal(), GeneralizedDDIMScheduler(sigma_c=0.5)
    for s in (m, ref):
        s.set_timesteps(10)
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    assert torch.equal(m.step(x, 499, x), ref.step(x, 499, x).prev_sample)
