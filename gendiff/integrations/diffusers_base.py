"""What the generalized diffusers schedulers share: configuration → gendiff tables, the timestep boundary,
the training-side methods, set_timesteps and the generalized DDIM jump.

The diffusers boundary [CONVENTIONS "diffusers boundary"]: diffusers' timesteps are 0-based (k = 0..T-1),
gendiff's steps 1-based (t = 1..T, tables indexed t-1): timestep k is t = k + 1.  :func:`to_step` and
:func:`to_timestep` (module `diffusers_config`) are the only two places that convert, and every message
here speaks in k.

| config key              | gendiff                                                              |
|-------------------------|----------------------------------------------------------------------|
| beta_schedule           | 'linear', 'scaled_linear' (diffusers' β ranges), 'squaredcos_cap_v2' = `cosine` |
| trained_betas           | β_1..β_T as given                                                    |
| rescale_betas_zero_snr  | `gendiff.schedules.rescale_zero_terminal_snr` (ᾱ_T = 0)              |
| prediction_type         | 'epsilon' → 'eps' (σ_0 ε + ϕ_t ξ), 'v_prediction' → 'v', 'sample' → x̂_0 |
| thresholding            | dynamic thresholding of x̂_0 (dynamic_thresholding_ratio, sample_max_value) |
| sigma0, sigma_c         | σ_0 (std of the isotropic noise), σ_c (std of each z of q(ξ))        |
| xi_family               | 'per_channel' (B, C, H, W), 'brightness', 'dirac'                   |
| gamma                   | 'balanced' (default), 'zero' (DDPM) or β-length list of γ_t          |

When ξ ≡ 0 ('dirac' or σ_c = 0) γ changes no output, and the tables are built with γ = 'zero': the
schedulers are then diffusers' DDPM/DDIM with noise std σ_0.  The configuration is validated at
construction; each `set_timesteps` fixes the step options, and each jump's coefficients are computed once
(per set_timesteps and η), so that `step` only computes (see `diffusers_step`).

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin
from diffusers.schedulers.scheduling_utils import KarrasDiffusionSchedulers, SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from ..diffusion import q_sample, target_eps, v_from_eps
from ..errors import InputError
from ..samplers import timesteps as step_grid
from ..schedules import ScheduleError
from ..starts import check_prior_start
from ..tables import build_tables
from ..xi import make_xi
from .diffusers_config import (BETA_SCHEDULES, FAMILIES, PREDICTION_TYPES, _int, betas_from_config,  # noqa: F401
                               options, to_step, to_timestep, validate_options)
from .diffusers_step import apply_jump, jump_coefs, threshold


class GeneralizedSchedulerBase(SchedulerMixin, ConfigMixin):
    """Shared state and methods; subclasses declare the configuration and `step`."""

    _compatibles = [e.name for e in KarrasDiffusionSchedulers]
    order = 1
    init_noise_sigma = 1.0      # latents= pass through pipelines unchanged; see initial_latents
    _large_variance = False     # DDPM's variance_type='fixed_large'

    @classmethod
    def from_config(cls, config=None, return_unused_kwargs=False, **kwargs):
        """diffusers' from_config; the keys of another scheduler's configuration that this one does not take
        (PNDM's skip_prk_steps, Euler's use_karras_sigmas, ...) are kept in its config, so that a round trip
        back to that scheduler (``Stock.from_config(sched.config)``) keeps every value.  Values the other
        scheduler took by default are kept too (diffusers would replace them by this class's defaults, and
        ours differ in timestep_spacing and clip_sample)."""
        if isinstance(config, dict):
            config = {k: v for k, v in config.items() if k != "_use_default_values"}
        model, unused = super().from_config(config, return_unused_kwargs=True, **kwargs)
        if isinstance(config, dict):
            foreign = {k: v for k, v in config.items() if not k.startswith("_") and k not in model.config}
            if foreign:
                model.register_to_config(**foreign)
        return (model, unused) if return_unused_kwargs else model

    def _setup(self):
        """Validate the configuration and build the float64 tables, once."""
        cfg = self.config
        validate_options(cfg)
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
        self._next = {}                                      # 1-based step -> the step it jumps to
        self._coefs = {}                                     # (t, s, η) -> JumpCoefs
        self.timesteps = torch.arange(cfg.num_train_timesteps - 1, -1, -1, dtype=torch.long)
        self._options()

    def _options(self):
        """The step options read from the configuration (again at each set_timesteps: pipelines edit it)."""
        opt = options(self.config)
        if opt["thresholding"]:
            self._clip = partial(threshold, ratio=opt["dynamic_thresholding_ratio"], max_value=opt["sample_max_value"])
        elif opt["clip_sample"]:
            r = opt["clip_sample_range"]
            self._clip = lambda x: x.clamp(-r, r)                # noqa: E731
        else:
            self._clip = None
        self._fam = None if self.xi_is_zero else self.xi_family
        self._coefs = {}

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

    def _steps(self, timesteps, like):
        return to_step(timesteps, like.shape[0], like.device, self.config.num_train_timesteps)

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps, xi=None, *,
                  out=None) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1-ᾱ_t)(σ_0 ε + ψ_t ξ) [result 'forward'] at diffusers' 0-based `timesteps` (B,).

        `xi` (like the samples) is required unless ξ ≡ 0.  Dtype and device follow the samples; `out` is
        an optional preallocated result (see :func:`gendiff.diffusion.q_sample`).
        """
        t = self._steps(timesteps, original_samples)
        return q_sample(original_samples, t, noise, self._checked_xi(xi), self.tables, out=out)

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps, xi=None) -> torch.Tensor:
        """v = √ᾱ_t (σ_0 ε + ϕ_t ξ) - √(1-ᾱ_t) x_0 [result 'vpred']: diffusers' v with ξ (`sample` is x_0)."""
        t = self._steps(timesteps, sample)
        return v_from_eps(self._eps_target(noise, self._checked_xi(xi), t), sample, t, self.tables)

    def get_target(self, original_samples: torch.Tensor, noise: torch.Tensor, xi, timesteps) -> torch.Tensor:
        """The regression target of the configured prediction type: σ_0 ε + ϕ_t ξ (epsilon), v, or x_0 (sample)."""
        if self.pred == "v":
            return self.get_velocity(original_samples, noise, timesteps, xi)
        t = self._steps(timesteps, noise)
        eta = self._eps_target(noise, self._checked_xi(xi), t)
        return original_samples if self.pred == "sample" else eta

    def _eps_target(self, noise, xi, t):
        if xi is None:
            xi = noise.new_zeros(()).expand_as(noise)
        return target_eps(noise, xi, t, self.tables)

    # --- sampling side --------------------------------------------------------------------------------

    def initial_latents(self, shape, generator=None, device=None, dtype=torch.float32, start="auto") -> torch.Tensor:
        """x_T ~ N(ξ, σ_0² I), ξ ~ q(ξ) (ξ first, then ε, from `generator`): the start of sampling; or
        `start.draw(shape, tables, xi_family, generator=, device=, dtype=)` where a start object is given.
        start='auto' (default) refuses where the prior start misses the forward law at t = T
        (:func:`gendiff.starts.check_prior_start` [start_mismatch.n_max_base]); start='prior' skips the check.

        Pipelines start from randn(shape)·init_noise_sigma; pass these as `latents=` (init_noise_sigma is 1)
        or run the denoising loop yourself (see the README) where a pipeline takes no latents.
        """
        if start is None or start == "auto":
            check_prior_start(self.tables, self.xi_family, shape)
        elif start != "prior":
            if not callable(getattr(start, "draw", None)):
                raise InputError(f"start must be 'auto', 'prior' or an object with a draw method, got {start!r}")
            return start.draw(tuple(shape), self.tables, self.xi_family, generator=generator, device=device,
                              dtype=dtype)
        xi = self.sample_xi(shape, generator=generator, device=device, dtype=dtype)
        return xi + self.config.sigma0 * randn_tensor(tuple(shape), generator=generator, device=xi.device, dtype=dtype)

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        """Identity (the model input needs no scaling)."""
        return sample

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, timesteps=None):
        """diffusers' descending 0-based timesteps for `num_inference_steps` (the core grid
        :func:`gendiff.samplers.timesteps` of timestep_spacing; steps_offset for 'leading'), or the given
        descending `timesteps`.  `step` jumps to the next one, the last to x_0."""
        T = self.config.num_train_timesteps
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("pass exactly one of num_inference_steps or timesteps")
        if timesteps is not None:
            k = [_int(v, "timesteps") for v in timesteps]
            if any(b >= a for a, b in zip(k, k[1:])) or not k or k[0] >= T or k[-1] < 0:
                raise ValueError(f"timesteps must be descending integers in 0..{T - 1}, got {list(timesteps)}")
            grid, self.custom_timesteps, n = [kk + 1 for kk in k], True, len(k)
        else:
            n = num_inference_steps
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= T:
                raise ValueError(f"num_inference_steps must be an integer in 1..{T}, got {n!r}")
            spacing = self.config.timestep_spacing            # steps_offset shifts 'leading' only, as in stock
            off = options(self.config)["steps_offset"] if spacing == "leading" else 0
            grid = step_grid(T, int(n), spacing, steps_offset=int(off))   # starts at t = T (T prepended if need be)
            self.custom_timesteps = False
        self.num_inference_steps = int(n)
        self._grid = grid
        self._next = dict(zip(grid, grid[1:] + [0]))
        self._options()
        self.timesteps = to_timestep(torch.tensor(grid, dtype=torch.long)).to(device)

    def _jump(self, timestep) -> tuple[int, int]:
        """(t, s): the 1-based step of `timestep` and the step it jumps to (0 = x_0): the next timestep of
        set_timesteps; off that grid diffusers' rule k − T // num_inference_steps (below 0: x_0)."""
        T = self.config.num_train_timesteps
        k = _int(timestep, "timestep")
        if not 0 <= k < T:
            raise ValueError(f"timestep must lie in 0..{T - 1} (diffusers' 0-based timesteps), got {k}")
        t = k + 1
        if self._grid is None:
            return t, t - 1
        s = self._next.get(t)
        if s is None:
            s = max(t - T // self.num_inference_steps, 0)
        return t, s

    def previous_timestep(self, timestep):
        """diffusers' 0-based timestep that `step` moves to (-1: the final x_0); a tensor stays a tensor."""
        k = to_timestep(self._jump(timestep)[1])
        if torch.is_tensor(timestep):
            return torch.as_tensor(k, dtype=timestep.dtype, device=timestep.device).reshape(timestep.shape)
        return k

    def _ddim(self, model_output, t: int, s: int, sample, eta: float, generator, variance_noise,
              use_clipped: bool = True):
        """(x_s, x̂_0): (x̂_0, ξ̂) = E[(x_0, ξ) | x_t] from the output [result 'xi_posterior'], x̂_0 clipped or
        thresholded if configured, then the generalized DDIM jump t → s [result 'ddim'] (η = 1: ancestral)."""
        if model_output.shape != sample.shape:
            raise ValueError(f"model_output has shape {tuple(model_output.shape)}, sample {tuple(sample.shape)}: "
                             "they must match")
        c = self._coefs.get((t, s, eta))
        if c is None:
            if self.pred == "eps" and self.tables.alpha_bar[t - 1] == 0:
                raise ValueError(f"ε-prediction cannot recover x_0 where ᾱ_t = 0 (zero terminal SNR, timestep "
                                 f"{t - 1}): use v-prediction")
            c = self._coefs[(t, s, eta)] = jump_coefs(self.tables, t, s, eta, large=self._large_variance)

        def noise():
            if variance_noise is not None:
                return variance_noise
            return randn_tensor(model_output.shape, generator=generator, device=model_output.device,
                                dtype=model_output.dtype)
        return apply_jump(c, model_output, sample, sigma0=self.tables.sigma0, xi_family=self._fam, pred=self.pred,
                          clip=self._clip, use_clipped=use_clipped, noise_fn=noise)
