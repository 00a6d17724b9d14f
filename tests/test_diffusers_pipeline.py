"""diffusers' StableDiffusionPipeline end to end with the generalized scheduler, from tiny random components
built here from configs (UNet2DConditionModel, AutoencoderKL, CLIPTextModel and a CLIPTokenizer over a
vocabulary written to the test's tmp dir): nothing is downloaded (HF_HUB_OFFLINE=1).

The pipeline takes latents=initial_latents(...) unchanged (init_noise_sigma = 1) and runs the generalized
DDIM steps; the per-channel brightness of x_T = ξ + σ_0 ε is N(0, σ_c² + σ_0²/(H·W)), by the exact χ² test
of tests/mc.py (false-alarm probability ≤ 1e-6), and stock N(0, I) latents fail that test (power).
"""
import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402

from gendiff.integrations.diffusers import GeneralizedDDIMScheduler  # noqa: E402
from tests.mc import CheckFailed, chi2_variance  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")     # tests/conftest.py


LATENT = (4, 8, 8)                      # (C, H, W): m = H·W = 64 pixels per channel
SIGMA_C, SIGMA0 = 0.5, 0.9


def tiny_tokenizer(tmp_path, max_length=16):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"] + letters + [c + "</w>" for c in letters]
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(vocab_file=str(tmp_path / "vocab.json"), merges_file=str(tmp_path / "merges.txt"),
                         model_max_length=max_length, pad_token="!")


def tiny_pipeline(tmp_path, scheduler):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=LATENT[1], in_channels=LATENT[0], out_channels=LATENT[0],
                                layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=16, attention_head_dim=2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=LATENT[0], block_out_channels=(8,),
                        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
                        norm_num_groups=4, sample_size=LATENT[1])
    tok = tiny_tokenizer(tmp_path)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=2))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def scheduler():
    return GeneralizedDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                    steps_offset=1, timestep_spacing="trailing", xi_family="per_channel",
                                    sigma_c=SIGMA_C, sigma0=SIGMA0)


def test_stable_diffusion_pipeline_runs_the_generalized_scheduler(tmp_path):
    sched = scheduler()
    pipe = tiny_pipeline(tmp_path, sched)
    assert pipe.scheduler is sched
    latents = sched.initial_latents((2,) + LATENT, generator=torch.Generator().manual_seed(0))
    seen = []
    pipe.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    img = pipe(["a cat", "a dog"], num_inference_steps=3, latents=latents, guidance_scale=2.0,
               output_type="np").images
    assert img.shape == (2, 8, 8, 3) and bool(torch.isfinite(torch.from_numpy(img)).all())
    assert len(seen) == 3 and torch.equal(seen[0], torch.cat([latents] * 2))       # x_T reached the UNet as given
    assert pipe.scheduler.timesteps.tolist() == [999, 666, 332]
    other = pipe(["a cat", "a dog"], num_inference_steps=3, latents=2 * latents, guidance_scale=2.0,
                 output_type="np").images
    assert abs(other - img).max() > 1e-4                                           # the latents are used


def channel_means(x):
    return x.double().mean((2, 3))


def test_mc_initial_latent_brightness_law():
    """Channel means of 4000 × 4 latents: N(0, σ_c² + σ_0²/(H·W)) exactly; stock N(0, σ_0²/(H·W)) latents fail."""
    sched = scheduler()
    shape = (4000,) + LATENT
    m = LATENT[1] * LATENT[2]
    var = SIGMA_C ** 2 + SIGMA0 ** 2 / m
    x = sched.initial_latents(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    chi2_variance(channel_means(x), var, what="x_T channel means")
    with pytest.raises(CheckFailed):
        stock = SIGMA0 * torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        chi2_variance(channel_means(stock), var, what="stock latents")
