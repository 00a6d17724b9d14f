"""diffusers schedulers for the generalized model [2412.03134], with ξ ~ q(ξ) in training and sampling.

Install with ``pip install 'gendiff[diffusers]'`` (a pinned diffusers; it pulls no torch).

| class                      | stock counterpart | `step`                                                      |
|----------------------------|-------------------|-------------------------------------------------------------|
| `GeneralizedDDPMScheduler` | `DDPMScheduler`   | ancestral: the η = 1 jump to the next timestep (posterior q(x_s | x_t, x̂_0, ξ̂), variance σ_0² β̃) |
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

Differences from the stock schedulers, all at ξ ≡ 0 too: `step` always jumps to the next timestep of
`set_timesteps` (stock DDIM jumps by T // num_inference_steps, which differs for 'linspace' and for
'trailing' when T is not a multiple); the direction term is re-derived from the clipped x̂_0 (stock DDIM's
use_clipped_model_output=True); no noise is drawn at the last jump; ε-prediction at ᾱ_t = 0 raises.

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from diffusers.configuration_utils import register_to_config
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.schedulers.scheduling_ddpm import DDPMSchedulerOutput

from .diffusers_base import GeneralizedSchedulerBase, to_timestep

__all__ = ["GeneralizedDDPMScheduler", "GeneralizedDDIMScheduler"]


class GeneralizedDDPMScheduler(GeneralizedSchedulerBase):
    """Ancestral sampling of the generalized model; at ξ ≡ 0 (σ_0 = 1) it is diffusers' `DDPMScheduler`.

    Only variance_type='fixed_small' (σ_0² β̃_t) exists here; thresholding is refused.
    """

    @register_to_config
    def __init__(self, *, num_train_timesteps: int = 1000, beta_start: float = 0.0001, beta_end: float = 0.02,
                 beta_schedule: str = "linear", trained_betas: np.ndarray | list[float] | None = None,
                 variance_type: str = "fixed_small", clip_sample: bool = False, clip_sample_range: float = 1.0,
                 prediction_type: Literal["epsilon", "v_prediction"] = "epsilon", thresholding: bool = False,
                 timestep_spacing: Literal["leading", "trailing", "linspace"] = "trailing", steps_offset: int = 0,
                 rescale_betas_zero_snr: bool = False, sigma0: float = 1.0,
                 xi_family: Literal["per_channel", "brightness", "dirac"] = "per_channel", sigma_c: float = 1.0,
                 gamma: str | list[float] = "balanced"):
        if variance_type != "fixed_small":
            raise ValueError(f"variance_type must be 'fixed_small' (σ_0² β̃_t), got {variance_type!r}")
        self._setup()

    def previous_timestep(self, timestep):
        """diffusers' 0-based timestep that `step` moves to (-1: the final x_0)."""
        return to_timestep(self._jump(timestep)[1])

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
                 steps_offset: int = 0, prediction_type: Literal["epsilon", "v_prediction"] = "epsilon",
                 thresholding: bool = False, timestep_spacing: Literal["leading", "trailing", "linspace"] = "trailing",
                 rescale_betas_zero_snr: bool = False, sigma0: float = 1.0,
                 xi_family: Literal["per_channel", "brightness", "dirac"] = "per_channel", sigma_c: float = 1.0,
                 gamma: str | list[float] = "balanced"):
        self._setup()

    def _jump(self, timestep):
        if self._grid is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step")
        t, s = super()._jump(timestep)
        if s == 0 and not self.config.set_alpha_to_one:
            s = min(1, t)
        return t, s

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0,
             use_clipped_model_output: bool = True, generator=None, variance_noise=None, return_dict: bool = True):
        """x_s from x_t by the generalized DDIM jump with std η σ_0 √((1-ᾱ_s)/(1-ᾱ_t)(1-ᾱ_t/ᾱ_s)).

        eta ∈ [0, 1] (0: deterministic, 1: ancestral); variance_noise replaces the generator's draw.
        use_clipped_model_output is accepted for DDIMPipeline; the direction always follows the clipped x̂_0.
        """
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {eta!r}")
        if variance_noise is not None and generator is not None:
            raise ValueError("pass either generator or variance_noise, not both")
        t, s = self._jump(timestep)
        prev, x0_hat = self._ddim(model_output, t, s, sample, float(eta), generator, variance_noise)
        if not return_dict:
            return prev, x0_hat
        return DDIMSchedulerOutput(prev_sample=prev, pred_original_sample=x0_hat)

