"""gendiff.integrations.diffusers against the real diffusers package (the extra `gendiff[diffusers]`).

- Parity at ξ ≡ 0: the generalized schedulers reproduce DDPMScheduler / DDIMScheduler step by step on
  random inputs: ≤ 1e-10 relative in float64 (stock scheduler given float64 tables from the same config),
  ≤ 1e-3 against the unmodified (float32) stock scheduler.  Relative error = max|ours - stock| / max|stock|.
- The timestep boundary (diffusers' k = gendiff's t - 1), pipelines, a training step, config round trip,
  bad configurations, and the README section "Use it in diffusers" executed as written.
- Monte Carlo checks of per_channel ξ: each has false-alarm probability ≤ 1e-6 (tests/mc.py), fixed seeds.
"""
import re
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel  # noqa: E402

from gendiff.diffusion import q_sample  # noqa: E402
from gendiff.estimates import split_output  # noqa: E402
from gendiff.integrations.diffusers import GeneralizedDDIMScheduler, GeneralizedDDPMScheduler  # noqa: E402
from gendiff.integrations.diffusers_base import to_step, to_timestep  # noqa: E402
from gendiff.losses import training_loss  # noqa: E402
from gendiff.samplers import ancestral, ddim  # noqa: E402
from gendiff.xi import PerChannel  # noqa: E402
from tests.mc import CheckFailed, chi2_variance, gaussian_moments, linear_gaussian  # noqa: E402

SCHEDULES = {
    "linear": dict(beta_schedule="linear"),
    "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "squaredcos_cap_v2": dict(beta_schedule="squaredcos_cap_v2"),
}
# (scheduler, timestep_spacing, eta, how ξ ≡ 0 is configured)
KINDS = {
    "ddpm-leading": ("ddpm", "leading", 1.0, dict(xi_family="per_channel", sigma_c=0.0)),
    "ddpm-linspace": ("ddpm", "linspace", 1.0, dict(xi_family="dirac")),
    "ddim-trailing-eta0": ("ddim", "trailing", 0.0, dict(xi_family="dirac")),
    "ddim-leading-eta0.5": ("ddim", "leading", 0.5, dict(xi_family="brightness", sigma_c=0.0)),
}
SHAPE = (2, 3, 4, 4)


pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


def shared_grid(ours, stock):
    """Stock's timesteps, which are ours after a first timestep T-1 that the core grid may prepend (every
    grid starts at t = T; for 'leading' the stock grid starts below)."""
    ks = stock.timesteps
    assert torch.equal(ours.timesteps[len(ours.timesteps) - len(ks):], ks), (ours.timesteps, ks)
    extra = ours.timesteps[: len(ours.timesteps) - len(ks)].tolist()
    assert extra in ([], [ours.config.num_train_timesteps - 1]), extra
    return ks


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def float64_stock(stock, betas):
    """The stock scheduler with float64 tables built from the same β (diffusers' own recursions)."""
    stock.betas = betas.clone()
    stock.alphas = 1.0 - stock.betas
    stock.alphas_cumprod = torch.cumprod(stock.alphas, 0)
    if isinstance(stock, DDIMScheduler):
        stock.final_alpha_cumprod = (torch.tensor(1.0, dtype=torch.float64) if stock.config.set_alpha_to_one
                                     else stock.alphas_cumprod[0])
    return stock


def parity_errors(kind, config, xi, steps, eta=0.0, seed=0):
    """(max rel. error vs the float64-table stock scheduler, vs the unmodified stock scheduler) over all steps.

    Every step gets fresh random (model_output, sample) and equal generators; ε-prediction at ᾱ_t = 0 is
    skipped here (test_zero_snr_eps_refuses_the_last_step covers it).
    """
    Stock, Ours = (DDPMScheduler, GeneralizedDDPMScheduler) if kind == "ddpm" else (DDIMScheduler, GeneralizedDDIMScheduler)
    config = dict(config, clip_sample=False)
    ours, s32 = Ours(**config, **xi), Stock(**config)
    s64 = float64_stock(Stock(**config), ours.betas)
    for s in (ours, s32, s64):
        s.set_timesteps(steps)
    ks = shared_grid(ours, s32)
    kw = {"eta": eta} if kind == "ddim" else {}
    g = torch.Generator().manual_seed(seed)
    e64 = e32 = 0.0
    for k in ks:
        x = torch.randn(SHAPE, generator=g, dtype=torch.float64)
        out = torch.randn(SHAPE, generator=g, dtype=torch.float64)
        if config.get("prediction_type") == "epsilon" and ours.tables.alpha_bar[int(k)] == 0:
            continue
        for stock, dt in ((s64, torch.float64), (s32, torch.float32)):
            a = ours.step(out.to(dt), k, x.to(dt), generator=torch.Generator().manual_seed(1), **kw)
            b = stock.step(out.to(dt), k, x.to(dt), generator=torch.Generator().manual_seed(1), **kw)
            e = max(rel(a.prev_sample, b.prev_sample), rel(a.pred_original_sample, b.pred_original_sample))
            if dt == torch.float64:
                e64 = max(e64, e)
            else:
                e32 = max(e32, e)
    return e64, e32


@pytest.mark.parametrize("rescale", [False, True], ids=["", "zero-snr"])
@pytest.mark.parametrize("pred", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_with_stock_schedulers(kind, schedule, pred, rescale):
    which, spacing, eta, xi = KINDS[kind]
    config = dict(SCHEDULES[schedule], prediction_type=pred, rescale_betas_zero_snr=rescale, timestep_spacing=spacing)
    e64, e32 = parity_errors(which, config, xi, 20, eta)
    assert e64 <= 1e-10, f"float64 tables: max relative error {e64:.3g}"
    assert e32 <= 1e-3, f"stock float32 scheduler: max relative error {e32:.3g}"


def test_parity_full_chain():
    """Every one of the T timesteps: DDPM, SD's schedule, v-prediction, zero SNR."""
    config = dict(SCHEDULES["scaled_linear"], prediction_type="v_prediction", rescale_betas_zero_snr=True)
    e64, e32 = parity_errors("ddpm", config, dict(xi_family="dirac"), 1000)
    assert e64 <= 1e-10 and e32 <= 1e-3, (e64, e32)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_parity_sd_ddim_config(schedule):
    """SD's DDIM settings: steps_offset=1, set_alpha_to_one=False, 'leading' (η = 0.3)."""
    sd = dict(SCHEDULES[schedule], steps_offset=1, set_alpha_to_one=False, timestep_spacing="leading")
    e64, e32 = parity_errors("ddim", sd, dict(xi_family="dirac"), 50, eta=0.3)
    assert e64 <= 1e-10 and e32 <= 1e-3, (e64, e32)


def test_parity_check_can_fail():
    """Negative control: a 1 % different β_end is far outside the float64 tolerance."""
    Ours = GeneralizedDDIMScheduler
    ours, stock = Ours(xi_family="dirac", beta_end=0.0202), DDIMScheduler(clip_sample=False, timestep_spacing="trailing")
    float64_stock(stock, Ours(xi_family="dirac").betas)
    for s in (ours, stock):
        s.set_timesteps(10)
    x, out = torch.randn(SHAPE, dtype=torch.float64), torch.randn(SHAPE, dtype=torch.float64)
    assert rel(ours.step(out, 499, x).prev_sample, stock.step(out, 499, x).prev_sample) > 1e-6


def test_zero_snr_eps_refuses_the_last_step():
    """At ᾱ_T = 0 ε-prediction cannot give x̂_0: stock returns non-finite values, ours raises."""
    cfg = dict(rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False)
    ours, stock = GeneralizedDDIMScheduler(**cfg, xi_family="dirac"), DDIMScheduler(**cfg)
    for s in (ours, stock):
        s.set_timesteps(10)
    x = torch.randn(SHAPE)
    assert not torch.isfinite(stock.step(x, 999, x).prev_sample).all()
    with pytest.raises(ValueError, match="ε-prediction cannot recover x_0"):
        ours.step(x, 999, x)


@pytest.mark.parametrize("spacing,offset", [("leading", 0), ("leading", 1), ("trailing", 0), ("linspace", 0)])
@pytest.mark.parametrize("steps", [1, 7, 10, 50, 999])
def test_timesteps_match_diffusers(spacing, offset, steps):
    cfg = dict(timestep_spacing=spacing, steps_offset=offset)
    for Stock, Ours in ((DDPMScheduler, GeneralizedDDPMScheduler), (DDIMScheduler, GeneralizedDDIMScheduler)):
        ours, stock = Ours(**cfg, xi_family="dirac"), Stock(**cfg)
        ours.set_timesteps(steps)
        stock.set_timesteps(steps)
        shared_grid(ours, stock)
    stock, ours = DDPMScheduler(**cfg), GeneralizedDDPMScheduler(**cfg, xi_family="dirac")
    stock.set_timesteps(steps)
    ours.set_timesteps(steps)
    assert [int(ours.previous_timestep(k)) for k in shared_grid(ours, stock)] == \
        [int(stock.previous_timestep(k)) for k in stock.timesteps]


def test_timestep_boundary_is_k_plus_one():
    """add_noise at diffusers' k is q_sample at gendiff's t = k + 1 (k = 0 and T-1 included); at ξ ≡ 0
    add_noise and get_velocity equal the stock ones, and a missing +1 would be caught."""
    sched = GeneralizedDDPMScheduler(sigma_c=0.7)
    g = torch.Generator().manual_seed(3)
    x0, noise = torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 3, 4, 4, generator=g)
    xi = sched.sample_xi(x0.shape, generator=g)
    k = torch.tensor([0, 1, 500, 999])
    assert torch.equal(to_step(k), k + 1) and torch.equal(to_timestep(to_step(k)), k)
    assert torch.equal(sched.add_noise(x0, noise, k, xi), q_sample(x0, k + 1, noise, xi, sched.tables))
    stock, base = DDPMScheduler(), GeneralizedDDPMScheduler(xi_family="dirac")
    assert rel(base.add_noise(x0, noise, k), stock.add_noise(x0, noise, k)) <= 1e-5      # stock tables: float32
    assert rel(base.get_velocity(x0, noise, k), stock.get_velocity(x0, noise, k)) <= 1e-5
    assert torch.equal(base.get_target(x0, noise, None, k), noise)
    wrong = q_sample(x0, k.clamp(min=1), noise, None, base.tables)      # a boundary that forgot the + 1
    assert rel(wrong, stock.add_noise(x0, noise, k)) > 1e-4


def test_add_noise_into_preallocated_out():
    """out= gives the same x_t without allocating; it may be x_0 itself, never noise or ξ."""
    sched = GeneralizedDDPMScheduler(sigma_c=0.7)
    g = torch.Generator().manual_seed(4)
    x0, noise = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    xi, k = sched.sample_xi(x0.shape, generator=g), torch.tensor([0, 400, 999])
    fresh, out = sched.add_noise(x0, noise, k, xi), torch.empty_like(x0)
    assert sched.add_noise(x0, noise, k, xi, out=out) is out and torch.equal(out, fresh)
    assert torch.equal(sched.add_noise(x0.clone(), noise, k, xi, out=x0), fresh)
    with pytest.raises(ValueError, match="share memory"):
        sched.add_noise(x0, noise, k, xi, out=noise)


def tiny_unet(seed=0):
    torch.manual_seed(seed)
    return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)


@torch.no_grad()
def denoise(unet, sched, latents, steps, generator, **step_kw):
    """The denoising loop of the README (what DDPMPipeline/DDIMPipeline run, from given latents)."""
    sched.set_timesteps(steps)
    x = latents
    for k in sched.timesteps:
        x = sched.step(unet(sched.scale_model_input(x, k), k).sample, k, x, generator=generator, **step_kw).prev_sample
    return x


@pytest.mark.parametrize("Pipeline,Sched", [(DDPMPipeline, GeneralizedDDPMScheduler), (DDIMPipeline, GeneralizedDDIMScheduler)])
def test_stock_pipelines_run_the_generalized_schedulers(Pipeline, Sched):
    """Stock pipelines take no latents=: they start at N(0, I) (x_T only when ξ ≡ 0, σ_0 = 1), and there they
    equal the README loop; DDIMPipeline swaps in a DDIMScheduler, so the scheduler is assigned afterwards.
    For ξ ≠ 0 the README loop from initial_latents is the supported route."""
    unet = tiny_unet()
    sched = Sched(xi_family="dirac")
    pipe = Pipeline(unet=unet, scheduler=sched)
    if Pipeline is DDIMPipeline:
        assert type(pipe.scheduler) is DDIMScheduler
        pipe.scheduler = sched
    assert pipe.scheduler is sched
    pipe.set_progress_bar_config(disable=True)
    img = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=4, output_type="np").images
    g = torch.Generator().manual_seed(0)
    x = denoise(unet, sched, torch.randn((2, 3, 8, 8), generator=g), 4, g)
    assert abs(torch.from_numpy(img).permute(0, 3, 1, 2) - (x / 2 + 0.5).clamp(0, 1)).max() < 1e-5

    gen = Sched(sigma_c=0.5, timestep_spacing="trailing")
    g = torch.Generator().manual_seed(1)
    x = denoise(unet, gen, gen.initial_latents((2, 3, 8, 8), generator=g), 4, g)
    assert x.shape == (2, 3, 8, 8) and torch.isfinite(x).all()


@pytest.mark.parametrize("pred", ["epsilon", "v_prediction"])
def test_training_step_gives_a_finite_loss(pred):
    unet = tiny_unet()
    sched = GeneralizedDDPMScheduler(prediction_type=pred, sigma_c=0.5)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(4, 3, 8, 8, generator=g)
    noise = torch.randn(latents.shape, generator=g)
    xi = sched.sample_xi(latents.shape, generator=g)
    k = torch.randint(0, sched.config.num_train_timesteps, (4,), generator=g)
    pred_out = unet(sched.add_noise(latents, noise, k, xi), k).sample
    loss = torch.nn.functional.mse_loss(pred_out, sched.get_target(latents, noise, xi, k))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in unet.parameters())


def test_config_round_trip(tmp_path):
    stock = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                          set_alpha_to_one=False, clip_sample=False, prediction_type="v_prediction")
    sched = GeneralizedDDIMScheduler.from_config(stock.config, sigma_c=0.3, sigma0=0.9)
    for key in ("beta_schedule", "beta_start", "beta_end", "steps_offset", "set_alpha_to_one", "prediction_type"):
        assert sched.config[key] == stock.config[key], key
    gam = 0.01 * torch.rand(1000, dtype=torch.float64)                 # a tensor: kept as a list in the config
    for s in (sched, GeneralizedDDPMScheduler(xi_family="brightness", gamma=gam, rescale_betas_zero_snr=True)):
        s.save_pretrained(tmp_path / type(s).__name__)
        back = type(s).from_pretrained(tmp_path / type(s).__name__)
        public = lambda c: {k: v for k, v in c.items() if not k.startswith("_")}   # noqa: E731
        assert public(back.config) == public(s.config)
        assert torch.equal(back.tables.psi, s.tables.psi) and torch.equal(back.tables.beta, s.tables.beta)


@pytest.mark.parametrize("kw,msg", [
    (dict(sigma_c=-0.1), "sigma_c"),
    (dict(xi_family="gaussian"), "xi_family"),
    (dict(rescale_betas_zero_snr=True), "balanced"),                            # β_T = 1, balanced γ, ε
    (dict(rescale_betas_zero_snr=True, prediction_type="v_prediction"), "balanced"),
    (dict(trained_betas=[0.1] * 999 + [1.0]), "balanced"),
    (dict(prediction_type="x0"), "prediction_type"),
    (dict(num_train_timesteps=0), "num_train_timesteps"),
    (dict(num_train_timesteps=2.5), "num_train_timesteps"),
    (dict(dynamic_thresholding_ratio=1.5), "dynamic_thresholding_ratio"),
    (dict(sample_max_value=0.5), "sample_max_value"),
    (dict(steps_offset=-1), "steps_offset"),
    (dict(gamma="offset"), "gamma"),
    (dict(gamma=[0.1, 0.2]), "gamma"),
    (dict(beta_schedule="sigmoid"), "beta_schedule"),
    (dict(timestep_spacing="even"), "timestep_spacing"),
    (dict(sigma0=0.0), "sigma0"),
])
def test_bad_configuration_raises_at_construction(kw, msg):
    for Sched in (GeneralizedDDPMScheduler, GeneralizedDDIMScheduler):
        with pytest.raises(ValueError, match=msg):
            Sched(**kw)
    for vt in ("learned", "learned_range", "fixed_large_log", "big"):
        with pytest.raises(ValueError, match="variance_type"):
            GeneralizedDDPMScheduler(variance_type=vt)


def test_bad_calls_raise():
    sched = GeneralizedDDIMScheduler(sigma_c=0.5)
    x = torch.randn(SHAPE)
    with pytest.raises(ValueError, match="pass the same xi"):
        sched.add_noise(x, x, torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="set_timesteps"):
        sched.step(x, 999, x)
    sched.set_timesteps(10)
    with pytest.raises(ValueError, match=r"0\.\.999 .*got 1000"):
        sched.step(x, 1000, x)
    with pytest.raises(ValueError, match="must match"):
        sched.step(x[:1], 999, x)
    with pytest.raises(ValueError, match="eta"):
        sched.step(x, 999, x, eta=1.5)
    with pytest.raises(ValueError, match="descending"):
        sched.set_timesteps(timesteps=[5, 7])


def readme_blocks():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = re.search(r"^## Use it in diffusers\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README has no section '## Use it in diffusers'"
    # a block right after a `<!-- not-run: reason -->` line is skipped, as in tests/test_readme.py
    return re.findall(r"(?<!-->\n)```python\n(.*?)```", section.group(1), re.S)


def test_readme_section_runs_as_written():
    blocks = readme_blocks()
    assert len(blocks) >= 2
    ns = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)       # noqa: S102 - the README's own code


# --- per_channel ξ: Monte Carlo (each check: false-alarm probability ≤ 1e-6, tests/mc.py) -------------

def contrasts(m):
    """(m, m-1) orthonormal basis of the pixels' deviations from their channel mean."""
    q, _ = torch.linalg.qr(torch.cat([torch.ones(m, 1), torch.randn(m, m - 1, generator=torch.Generator().manual_seed(0))], 1).double())
    return q[:, 1:]


def channel_parts(x):
    """(channel means (N·C,), within-channel orthonormal contrasts (N·C, m-1)) of x (N, C, H, W)."""
    flat = x.double().flatten(2).flatten(0, 1)
    m = flat.shape[1]
    return flat.mean(1), flat @ contrasts(m)


@pytest.mark.parametrize("seed", [11, 12])
def test_mc_initial_latents_per_channel(seed):
    """x_T = ξ + σ_0 ε: channel means N(0, σ_c² + σ_0²/m) iid over (sample, channel), deviations N(0, σ_0²)."""
    sched = GeneralizedDDIMScheduler(sigma_c=0.6, sigma0=0.8)
    N, C, H, W = 20000, 3, 4, 4
    x = sched.initial_latents((N, C, H, W), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    means, dev = channel_parts(x)
    gaussian_moments(means.reshape(N, C), torch.zeros(C), (0.36 + 0.64 / 16) * torch.eye(C), alpha=5e-7, what="x_T means")
    chi2_variance(dev, 0.64, alpha=5e-7, what="x_T deviations")


@pytest.mark.parametrize("k", [200, 700, 999])
def test_mc_add_noise_per_channel(k):
    """(x_t - √ᾱ x_0)/√(1-ᾱ): channel means N(0, ψ²σ_c² + σ_0²/m), deviations N(0, σ_0²)."""
    sched = GeneralizedDDPMScheduler(sigma_c=0.6, sigma0=0.8, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    g = torch.Generator().manual_seed(100 + k)
    N, C, H, W = 20000, 3, 4, 4
    x0 = torch.randn(N, C, H, W, generator=g, dtype=torch.float64)
    xi = sched.sample_xi(x0.shape, generator=g, dtype=torch.float64)
    x = sched.add_noise(x0, torch.randn(x0.shape, generator=g, dtype=torch.float64), torch.full((N,), k), xi)
    ab, psi = float(sched.tables.alpha_bar[k]), float(sched.tables.psi[k])
    means, dev = channel_parts((x - ab**0.5 * x0) / (1 - ab) ** 0.5)
    gaussian_moments(means.reshape(N, C), torch.zeros(C), (psi**2 * 0.36 + 0.64 / 16) * torch.eye(C), alpha=5e-7,
                     what="x_t means")
    chi2_variance(dev, 0.64, alpha=5e-7, what="x_t deviations")


def xi_regression(sched, k, pred, N=8000, C=8, seed=0, scale=1.0):
    """Regress the true ξ_c on ξ̂_c = E[ξ | x_t] from an exact network output (data x_0 known to it).

    Per channel, ξ_c | x_t ~ N(E[ξ_c | x_t], σ_c²σ_0²/(σ_0² + m ψ² σ_c²)) exactly: slope 1, that variance.
    """
    g = torch.Generator().manual_seed(seed)
    tb, m = sched.tables, 16
    x0 = torch.randn(N, C, 4, 4, generator=g, dtype=torch.float64)
    xi = sched.sample_xi(x0.shape, generator=g, dtype=torch.float64)
    kk = torch.full((N,), k)
    x_t = sched.add_noise(x0, torch.randn(x0.shape, generator=g, dtype=torch.float64), kk, xi)
    a, s = float(tb.alpha_bar[k]) ** 0.5, float(tb.one_minus_alpha_bar[k]) ** 0.5
    psi, phi, s0, sc = float(tb.psi[k]), float(tb.phi[k]), tb.sigma0, sched.config.sigma_c
    u = (x_t - a * x0) / s                                         # σ_0 ε + ψ ξ, known given x_0
    xi_true_mean = (psi * sc**2 / (s0**2 + m * psi**2 * sc**2)) * u.sum((2, 3), keepdim=True).expand_as(u)
    eta_hat = u - (psi - phi) * xi_true_mean                       # E[σ_0 ε + ϕ ξ | x_t]
    out = eta_hat if pred == "eps" else a * eta_hat - s * x0
    _, xi_hat = split_output(out, x_t, kk + 1, tb, sched.xi_family, pred=pred)
    var = sc**2 * s0**2 / (s0**2 + m * psi**2 * sc**2)
    return linear_gaussian(xi[:, :, 0, 0], scale * xi_hat[:, :, 0, 0], [1.0], var, what=f"E[ξ|x_t] {pred} k={k}")


@pytest.mark.parametrize("pred", ["eps", "v"])
@pytest.mark.parametrize("gamma", ["balanced", "custom"])
def test_mc_posterior_mean_of_xi_per_channel(pred, gamma):
    g = torch.Generator().manual_seed(7)
    gam = "balanced" if gamma == "balanced" else (0.02 * torch.rand(1000, generator=g, dtype=torch.float64)).tolist()
    sched = GeneralizedDDIMScheduler(sigma_c=0.7, sigma0=0.9, gamma=gam, beta_schedule="scaled_linear",
                                     beta_start=0.00085, beta_end=0.012,
                                     prediction_type="epsilon" if pred == "eps" else "v_prediction")
    for k in (300, 900):
        xi_regression(sched, k, pred)


def test_mc_posterior_mean_check_detects_one_percent():
    """Negative control: ξ̂ scaled by 1.01 fails (configuration where ξ̂ explains most of ξ)."""
    sched = GeneralizedDDIMScheduler(sigma_c=1.0, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    assert 16 * float(sched.tables.psi[950]) ** 2 > 5                   # ξ̂ is informative here
    with pytest.raises(CheckFailed):
        xi_regression(sched, 950, "eps", N=20000, C=8, scale=1.01)


def test_core_accepts_per_channel_images():
    """Losses and samplers take (B, C, H, W) with one z per (sample, channel)."""
    sched = GeneralizedDDPMScheduler(sigma_c=0.5, num_train_timesteps=20)
    tb, fam = sched.tables, PerChannel(sigma_c=0.5)
    model = lambda x, t: 0.1 * x                                         # noqa: E731
    g = torch.Generator().manual_seed(0)
    loss = training_loss(model, torch.randn(4, 3, 4, 4, generator=g), tb, fam, generator=g)
    assert torch.isfinite(loss)
    for sampler, kw in ((ancestral, {}), (ddim, dict(steps=5))):
        x = sampler(model, (2, 3, 4, 4), tb, fam, generator=torch.Generator().manual_seed(1), start="prior", **kw)
        assert x.shape == (2, 3, 4, 4) and torch.isfinite(x).all()
