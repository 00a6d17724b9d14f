"""diffusers schedulers for the generalized model [2412.03134], with ξ ~ q(ξ) in training and sampling.

Install with ``pip install 'gendiff[diffusers]'`` (pinned diffusers and transformers; they pull no torch).

| class                      | stock counterpart | `step`                                                      |
|----------------------------|-------------------|-------------------------------------------------------------|
| `GeneralizedDDPMScheduler` | `DDPMScheduler`   | ancestral: the η = 1 jump to the next timestep (posterior q(x_s | x_t, x̂_0, ξ̂), variance σ_0² β̃; 'fixed_large': σ_0²(1 − ᾱ_t/ᾱ_s)) |
| `GeneralizedDDIMScheduler` | `DDIMScheduler`   | generalized DDIM jump with ξ̂ = E[ξ | x_t] (any η in [0, 1]) |

Both take a stock scheduler's configuration (``from_config(pipe.scheduler.config, xi_family=..., ...)``),
save and load it like any diffusers scheduler, and add: sigma0, xi_family ('per_channel' for latents
(B, C, H, W), 'brightness', 'dirac'), sigma_c and gamma ('balanced', 'zero' or a list of γ_t).

Training: ``xi = sched.sample_xi(latents.shape, generator)``, ``x_t = sched.add_noise(latents, noise, k, xi)``,
``target = sched.get_target(latents, noise, xi, k)``.  Sampling starts at x_T ~ N(ξ, σ_0² I):
``sched.initial_latents(shape, generator)``.  diffusers' DDPMPipeline and DDIMPipeline take no `latents=`
(they start from N(0, I), which is x_T only when ξ ≡ 0 and σ_0 = 1), and DDIMPipeline converts its
scheduler to a stock DDIMScheduler in its constructor: assign ``pipe.scheduler = sched`` afterwards.  With
them, run the denoising loop yourself (README "Use it in diffusers").  Timesteps at this boundary are
diffusers' 0-based k (t = k + 1 inside gendiff; see `diffusers_base`).

Differences from the stock schedulers at ξ ≡ 0 (tests/test_diffusers_conformance.py checks the rest):
defaults timestep_spacing='trailing' and clip_sample=False (sampling starts at t = T; clipping suits only data
in [-1, 1]); the core grid prepends T-1 where 'leading' starts below it; on the grid `step` jumps to the next
grid timestep (stock DDIM jumps by T // num_inference_steps there too; off the grid both use that rule); no
noise at the last jump; ε-prediction at ᾱ_t = 0 raises (stock: non-finite); learned variances and
'fixed_large_log' are refused; DDPM off the grid follows DDIM's rule (stock: IndexError).

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from diffusers.configuration_utils import register_to_config
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput

from .diffusers_base import GeneralizedSchedulerBase

__all__ = ["GeneralizedDDPMScheduler", "GeneralizedDDIMScheduler"]


class GeneralizedDDPMScheduler(GeneralizedSchedulerBase):
    """Ancestral sampling of the generalized model; at ξ ≡ 0 (σ_0 = 1) it is diffusers' `DDPMScheduler`.

    variance_type: 'fixed_small' (σ_0² β̃_t; also 'fixed_small_log' and None, the same numbers) or
    'fixed_large' (σ_0² (1 − ᾱ_t/ᾱ_s), diffusers' current β of the jump), with the posterior mean of both.
    """

    @register_to_config
    def __init__(self, *, num_train_timesteps: int = 1000, beta_start: float = 0.0001, beta_end: float = 0.02,
                 beta_schedule: str = "linear", trained_betas: np.ndarray | list[float] | None = None,
                 variance_type: str | None = "fixed_small", clip_sample: bool = False, clip_sample_range: float = 1.0,
                 prediction_type: Literal["epsilon", "v_prediction", "sample"] = "epsilon", thresholding: bool = False,
                 dynamic_thresholding_ratio: float = 0.995, sample_max_value: float = 1.0,
                 timestep_spacing: Literal["leading", "trailing", "linspace"] = "trailing", steps_offset: int = 0,
                 rescale_betas_zero_snr: bool = False, sigma0: float = 1.0,
                 xi_family: Literal["per_channel", "brightness", "dirac"] = "per_channel", sigma_c: float = 1.0,
                 gamma: str | list[float] = "balanced"):
        if variance_type in ("learned", "learned_range"):
            raise ValueError(f"variance_type={variance_type!r} needs a network that also predicts its variance; the "
                             "generalized model has none: use 'fixed_small' (σ_0² β̃_t) or 'fixed_large' (σ_0² β_t)")
        if variance_type not in (None, "fixed_small", "fixed_small_log", "fixed_large"):
            raise ValueError(f"variance_type must be 'fixed_small', 'fixed_small_log' or 'fixed_large', "
                             f"got {variance_type!r}")
        self._large_variance = variance_type == "fixed_large"
        self._setup()

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator=None,
             return_dict: bool = True):
        """x_s from x_t (s: the next timestep, or x_0 after the last): one ancestral (η = 1) jump.

        model_output, sample: (B, ...); timestep: diffusers' 0-based k (int or 0-d tensor).
        Returns DDPMSchedulerOutput(prev_sample, pred_original_sample) or a tuple.
        """
        t, s = self._jump(timestep)
        prev, x0_hat = self._ddim(model_output, t, s, sample, 1.0, generator, None)
        if not return_dict:
            return prev, x0_hat
        return DDPMSchedulerOutput(prev_sample=prev, pred_original_sample=x0_hat)


class GeneralizedDDIMScheduler(GeneralizedSchedulerBase):
    """Generalized DDIM [result 'ddim'] with ξ̂ = E[ξ | x_t]; at ξ ≡ 0 (σ_0 = 1) diffusers' `DDIMScheduler`.

    set_alpha_to_one=False ends at step 1 (ᾱ_1) instead of x_0, as in diffusers.
    """

    @register_to_config
    def __init__(self, *, num_train_timesteps: int = 1000, beta_start: float = 0.0001, beta_end: float = 0.02,
                 beta_schedule: str = "linear", trained_betas: np.ndarray | list[float] | None = None,
                 clip_sample: bool = False, clip_sample_range: float = 1.0, set_alpha_to_one: bool = True,
                 steps_offset: int = 0, prediction_type: Literal["epsilon", "v_prediction", "sample"] = "epsilon",
                 thresholding: bool = False, dynamic_thresholding_ratio: float = 0.995, sample_max_value: float = 1.0,
                 timestep_spacing: Literal["leading", "trailing", "linspace"] = "trailing",
                 rescale_betas_zero_snr: bool = False, sigma0: float = 1.0,
                 xi_family: Literal["per_channel", "brightness", "dirac"] = "per_channel", sigma_c: float = 1.0,
                 gamma: str | list[float] = "balanced"):
        self._setup()

    def _jump(self, timestep):
        if self._grid is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step")
        t, s = super()._jump(timestep)
        if s == 0 and not self.config.set_alpha_to_one:
            s = 1
        return t, s

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = False, generator=None, variance_noise=None, return_dict: bool = True):
        """x_s from x_t by the generalized DDIM jump with std η σ_0 √((1-ᾱ_s)/(1-ᾱ_t)(1-ᾱ_t/ᾱ_s)).

        eta ∈ [0, 1] (0: deterministic, 1: ancestral); variance_noise replaces the generator's draw.
        use_clipped_model_output: the direction term follows the clipped (True) or the raw x̂_0 (False,
        diffusers' default); it matters only with clip_sample or thresholding.
        """
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
        if variance_noise is not None and generator is not None:
            raise ValueError("pass either generator or variance_noise, not both")
        t, s = self._jump(timestep)
        prev, x0_hat = self._ddim(model_output, t, s, sample, eta, generator, variance_noise,
                                  bool(use_clipped_model_output))
        if not return_dict:
            return prev, x0_hat
        return DDIMSchedulerOutput(prev_sample=prev, pred_original_sample=x0_hat)
