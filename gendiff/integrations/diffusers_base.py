"""What the two generalized diffusers schedulers share: configuration → gendiff tables, the timestep
boundary, the training-side methods and the generalized DDIM jump.

The diffusers boundary [CONVENTIONS "diffusers boundary"]: diffusers' timesteps are 0-based (k = 0..T-1),
gendiff's steps 1-based (t = 1..T, tables indexed t-1): timestep k is t = k + 1.  :func:`to_step` and
:func:`to_timestep` are the only two places that convert; every method below goes through them.

| config key              | gendiff                                                              |
|-------------------------|----------------------------------------------------------------------|
| beta_schedule           | 'linear', 'scaled_linear' (diffusers' β ranges), 'squaredcos_cap_v2' = `cosine` |
| trained_betas           | β_1..β_T as given                                                    |
| rescale_betas_zero_snr  | `gendiff.schedules.rescale_zero_terminal_snr` (ᾱ_T = 0)              |
| prediction_type         | 'epsilon' → pred 'eps' (σ_0 ε + ϕ_t ξ), 'v_prediction' → pred 'v'    |
| sigma0, sigma_c         | σ_0 (std of the isotropic noise), σ_c (std of each z of q(ξ))        |
| xi_family               | 'per_channel' (B, C, H, W), 'brightness', 'dirac'                   |
| gamma                   | 'balanced' (default), 'zero' (DDPM) or β-length list of γ_t          |

When ξ ≡ 0 ('dirac' or σ_c = 0) γ changes no output, and the tables are built with γ = 'zero': the
schedulers are then diffusers' DDPM/DDIM with noise std σ_0.

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ..diffusion import q_sample, target_eps, v_from_eps
from ..estimates import split_output
from ..samplers import SPACINGS, ddim_step, timesteps as step_grid
from ..schedules import ScheduleError, make_beta, rescale_zero_terminal_snr
from ..tables import build_tables
from ..xi import make_xi

FAMILIES = ("per_channel", "brightness", "dirac")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v"}


def to_step(timestep, batch: int | None = None, device=None) -> torch.Tensor:
    """diffusers' 0-based timestep(s) k → gendiff's 1-based steps t = k + 1, as a long tensor (B,)."""
    k = torch.as_tensor(timestep, device=device)
    if k.is_floating_point() or k.dtype == torch.bool:
        if not bool((k == k.round()).all()):
            raise TypeError(f"timesteps must be integers (diffusers' 0-based k), got {timestep!r}")
    t = k.to(torch.long).reshape(-1) + 1
    if batch is not None and t.numel() == 1 and batch != 1:
        t = t.expand(batch)
    return t


def to_timestep(t):
    """gendiff's 1-based step(s) t → diffusers' 0-based timestep k = t - 1 (int or long tensor)."""
    return t - 1


def betas_from_config(cfg) -> torch.Tensor:
    """β_1..β_T (float64) from a diffusers scheduler configuration."""
    T = cfg.num_train_timesteps
    if cfg.trained_betas is not None:
        b = torch.as_tensor(np.asarray(cfg.trained_betas, dtype=np.float64))
        if b.shape != (T,):
            raise ValueError(f"trained_betas must have num_train_timesteps = {T} entries, got {tuple(b.shape)}")
    elif cfg.beta_schedule == "linear":
        b = torch.linspace(cfg.beta_start, cfg.beta_end, T, dtype=torch.float64)
    elif cfg.beta_schedule == "scaled_linear":
        b = torch.linspace(math.sqrt(cfg.beta_start), math.sqrt(cfg.beta_end), T, dtype=torch.float64) ** 2
    elif cfg.beta_schedule == "squaredcos_cap_v2":
        b = make_beta("cosine", T)
    else:
        raise ValueError(f"beta_schedule must be one of {BETA_SCHEDULES} (or give trained_betas), "
                         f"got {cfg.beta_schedule!r}")
    return rescale_zero_terminal_snr(b) if cfg.rescale_betas_zero_snr else b


class GeneralizedSchedulerBase(SchedulerMixin, ConfigMixin):
    """Shared state and methods; subclasses declare the configuration and `step`."""

    _compatibles = ["DDPMScheduler", "DDIMScheduler"]
    order = 1
    init_noise_sigma = 1.0      # latents= pass through pipelines unchanged; see initial_latents

    def _setup(self):
        """Validate the configuration and build the float64 tables, once."""
        cfg = self.config
        if cfg.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {sorted(PREDICTION_TYPES)}, got {cfg.prediction_type!r} "
                             "('sample' gives no estimate of ξ)")
        if cfg.timestep_spacing not in SPACINGS:
            raise ValueError(f"timestep_spacing must be one of {SPACINGS}, got {cfg.timestep_spacing!r}")
        if cfg.thresholding:
            raise ValueError("thresholding=True (dynamic thresholding) is not supported; use clip_sample")
        sc = cfg.sigma_c
        if isinstance(sc, bool) or not isinstance(sc, (int, float)) or not 0 <= sc < math.inf:
            raise ValueError(f"sigma_c (std of each z of q(ξ)) must be a finite number >= 0, got {sc!r}")
        if cfg.xi_family not in FAMILIES:
            raise ValueError(f"xi_family must be one of {FAMILIES}, got {cfg.xi_family!r}")
        if cfg.xi_family == "dirac":
            self.xi_family = make_xi("dirac")
        else:
            self.xi_family = make_xi(cfg.xi_family, sigma_c=cfg.sigma_c)
        self.xi_is_zero = cfg.xi_family == "dirac" or self.xi_family.sigma_c == 0
        gamma = cfg.gamma
        if isinstance(gamma, str):
            if gamma not in ("balanced", "zero"):
                raise ValueError(f"gamma must be 'balanced', 'zero' or a list of num_train_timesteps values, got {gamma!r}")
        else:
            gamma = torch.as_tensor(np.asarray(gamma, dtype=np.float64))
            if not isinstance(cfg.gamma, list):                   # the JSON config holds a list
                self.register_to_config(gamma=gamma.reshape(-1).tolist())
        beta = betas_from_config(cfg)
        if self.xi_is_zero:
            gamma = "zero"
        elif isinstance(gamma, str) and gamma == "balanced" and beta[-1] >= 1:
            raise ScheduleError(
                "gamma='balanced' needs ᾱ_T > 0, but rescale_betas_zero_snr (or β_T = 1) gives ᾱ_T = 0: "
                "result 'balanced' proves that no finite γ exists there (γ_T → ∞; ψ_t = ϕ_t → 0 for t < T, "
                "ψ_T → 1). With zero terminal SNR use xi_family='dirac' or sigma_c=0 (DDPM), gamma='zero' or a "
                "finite gamma list; ε-prediction cannot recover x_0 at t = T there, so prefer v_prediction")
        self.tables = build_tables(beta, gamma=gamma, sigma0=cfg.sigma0)
        self.pred = PREDICTION_TYPES[cfg.prediction_type]
        self.betas = self.tables.beta
        self.alphas_cumprod = self.tables.alpha_bar          # float64, for code that reads diffusers' name
        self.num_inference_steps = None
        self.custom_timesteps = False
        self._grid = None                                    # 1-based steps of set_timesteps, descending
        self.timesteps = torch.arange(cfg.num_train_timesteps - 1, -1, -1, dtype=torch.long)

    def __len__(self):
        return self.config.num_train_timesteps

    # --- training side --------------------------------------------------------------------------------

    def sample_xi(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """ξ ~ q(ξ) of shape `shape` (per_channel: (B, C, H, W), one z per (sample, channel)).

        Drawn on the generator's device and moved to `device`, as diffusers' `randn_tensor` does.
        """
        gen_device = generator.device if generator is not None else device
        xi = self.xi_family.sample(tuple(shape), generator=generator, device=gen_device, dtype=dtype)
        return xi.to(device) if device is not None else xi

    def _checked_xi(self, xi):
        if xi is None:
            if not self.xi_is_zero:
                raise ValueError(f"this scheduler's q(ξ) is {self.config.xi_family} with sigma_c = "
                                 f"{self.config.sigma_c}: pass the same xi=scheduler.sample_xi(shape, generator) "
                                 "to add_noise and get_target (ξ = 0 would train a different model)")
        return xi

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps, xi=None, *,
                  out=None) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ) [result 'forward'] at diffusers' 0-based `timesteps` (B,).

        `xi` (like the samples) is required unless ξ ≡ 0.  Dtype and device follow the samples; `out` is
        an optional preallocated result (see :func:`gendiff.diffusion.q_sample`).
        """
        t = to_step(timesteps, original_samples.shape[0], original_samples.device)
        return q_sample(original_samples, t, noise, self._checked_xi(xi), self.tables, out=out)

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps, xi=None) -> torch.Tensor:
        """v = √ᾱ_t (σ_0 ε + ϕ_t ξ) - √(1-ᾱ_t) x_0 [result 'vpred']: diffusers' v with ξ (`sample` is x_0)."""
        t = to_step(timesteps, sample.shape[0], sample.device)
        return v_from_eps(self._eps_target(noise, self._checked_xi(xi), t), sample, t, self.tables)

    def get_target(self, original_samples: torch.Tensor, noise: torch.Tensor, xi, timesteps) -> torch.Tensor:
        """The regression target of the configured prediction type: σ_0 ε + ϕ_t ξ (epsilon) or v."""
        if self.pred == "v":
            return self.get_velocity(original_samples, noise, timesteps, xi)
        t = to_step(timesteps, noise.shape[0], noise.device)
        return self._eps_target(noise, self._checked_xi(xi), t)

    def _eps_target(self, noise, xi, t):
        if xi is None:
            xi = noise.new_zeros(()).expand_as(noise)
        return target_eps(noise, xi, t, self.tables)

    # --- sampling side --------------------------------------------------------------------------------

    def initial_latents(self, shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ) (ξ first, then ε, from `generator`): the start of sampling.

        Pipelines start from randn(shape)·init_noise_sigma; pass these as `latents=` (init_noise_sigma is 1)
        or run the denoising loop yourself (see the README) where a pipeline takes no latents.
        """
        xi = self.sample_xi(shape, generator=generator, device=device, dtype=dtype)
        return xi + self.config.sigma0 * randn_tensor(tuple(shape), generator=generator, device=xi.device, dtype=dtype)

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        """Identity (the model input needs no scaling)."""
        return sample

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, timesteps=None):
        """diffusers' descending 0-based timesteps for `num_inference_steps` (timestep_spacing, steps_offset
        for 'leading'), or the given descending `timesteps`.  `step` jumps to the next one, the last to x_0."""
        T = self.config.num_train_timesteps
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("pass exactly one of num_inference_steps or timesteps")
        if timesteps is not None:
            k = [int(v) for v in timesteps]
            if any(b >= a for a, b in zip(k, k[1:])) or not k or k[0] >= T or k[-1] < 0:
                raise ValueError(f"timesteps must be descending integers in 0..{T - 1}, got {list(timesteps)}")
            grid, self.custom_timesteps = [kk + 1 for kk in k], True
        else:
            grid = step_grid(T, num_inference_steps, self.config.timestep_spacing)
            if self.config.timestep_spacing == "leading":
                grid = [t + self.config.steps_offset for t in grid]
                if grid[0] > T:
                    raise ValueError(f"steps_offset = {self.config.steps_offset} moves a timestep past {T - 1}")
            self.custom_timesteps = False
        self.num_inference_steps = len(grid)
        self._grid = grid
        self.timesteps = to_timestep(torch.tensor(grid, dtype=torch.long)).to(device)

    def _jump(self, timestep) -> tuple[int, int]:
        """(t, s): the 1-based step of `timestep` and the step it jumps to (0 = x_0)."""
        t = int(to_step(timestep)[0])
        if self._grid is None:
            return t, t - 1
        if t not in self._grid:
            raise ValueError(f"timestep {timestep!r} is not one of the timesteps set by set_timesteps")
        i = self._grid.index(t)
        return t, self._grid[i + 1] if i + 1 < len(self._grid) else 0

    def _ddim(self, model_output, t: int, s: int, sample, eta: float, generator, variance_noise):
        """(x_s, x̂_0): (x̂_0, ξ̂) = E[(x_0, ξ) | x_t] from the output [result 'xi_posterior'], x̂_0 clipped if
        configured, then the generalized DDIM jump t → s [result 'ddim'] (η = 1: ancestral)."""
        B = sample.shape[0]
        tt = torch.full((B,), t, dtype=torch.long, device=sample.device)
        x0_hat, xi_hat = split_output(model_output, sample, tt, self.tables, self.xi_family, pred=self.pred)
        if self.config.clip_sample:
            r = self.config.clip_sample_range
            x0_hat = x0_hat.clamp(-r, r)
        if s == t:                                            # set_alpha_to_one=False at t = 1: stay
            return sample, x0_hat
        noise = None
        if eta > 0 and s > 0:
            noise = variance_noise if variance_noise is not None else randn_tensor(
                model_output.shape, generator=generator, device=model_output.device, dtype=model_output.dtype)
        ss = torch.full((B,), s, dtype=torch.long, device=sample.device)
        return ddim_step(sample, x0_hat, xi_hat, tt, ss, self.tables, eta=eta, noise=noise), x0_hat
