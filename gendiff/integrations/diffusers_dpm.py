"""DPM-Solver++(2M) as a diffusers scheduler for the generalized model [result 'dpm_solver'].

`GeneralizedDPMSolverMultistepScheduler` takes a stock configuration (``from_config(pipe.scheduler.config,
xi_family=..., sigma_c=...)``) like the schedulers of :mod:`gendiff.integrations.diffusers` (shared base:
:class:`~gendiff.integrations.diffusers_base.GeneralizedSchedulerBase`) and steps with the core jumps of
:mod:`gendiff.jumps`: `jump='whitened'` (default; x̂_0 extrapolated per eigen-direction of Σ_ξ on the whitened
flow) or `jump='xi'` (the ξ̂-form).  At ξ ≡ 0 both are diffusers' ``DPMSolverMultistepScheduler(
algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", final_sigmas_type="zero")`` step by step
(tests/test_dpm_solver.py): the first step is first order, the last lands on x̂_0 (lower_order_final), the
others are second order.

Grids follow the stock DPM scheduler's `timestep_spacing` ('linspace': round(linspace(0, T-1, n+1))[::-1][:-1];
'leading': k·⌊T/(n+1)⌋ + steps_offset; 'trailing': round(arange(T, 0, -T/n)) - 1), then, where the first
timestep is below T-1 (SD's 'leading'), T-1 is PREPENDED (one more call): every grid starts at t = T, where
x_T ~ N(ξ, σ_0² I) holds (the stock scheduler starts SD's 20 steps at k = 941 from a sample drawn for k = 999).

Layer: integrations — may import gendiff core and the adapted library; never experiments or cli.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from diffusers.configuration_utils import register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerOutput

from ..estimates import split_output
from ..jumps import dpm2m_step, whitened2m_step
from .diffusers_base import GeneralizedSchedulerBase

__all__ = ["GeneralizedDPMSolverMultistepScheduler", "dpm_timesteps"]
JUMPS = ("whitened", "xi")


def dpm_timesteps(T: int, n: int, spacing: str, steps_offset: int = 0) -> list[int]:
    """Descending 0-based timesteps of the stock DPM scheduler's spacing, with T-1 prepended where they start below it."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= T:
        raise ValueError(f"num_inference_steps must be an integer in 1..{T}, got {n!r}")
    if spacing == "linspace":
        k = np.linspace(0, T - 1, n + 1).round()[::-1][:-1].astype(np.int64)
    elif spacing == "leading":
        k = (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1].astype(np.int64) + steps_offset
    elif spacing == "trailing":
        k = np.arange(T, 0, -T / n).round().astype(np.int64) - 1
    else:
        raise ValueError(f"timestep_spacing must be 'linspace', 'leading' or 'trailing', got {spacing!r}")
    k = [int(v) for v in k]
    if k[0] > T - 1:
        raise ValueError(f"steps_offset = {steps_offset} moves a timestep past {T - 1}")
    return k if k[0] == T - 1 else [T - 1] + k


class GeneralizedDPMSolverMultistepScheduler(GeneralizedSchedulerBase):
    """DPM-Solver++(2M) with ξ [result 'dpm_solver']; at ξ ≡ 0 (σ_0 = 1) diffusers' DPMSolverMultistepScheduler."""

    _compatibles = ["DPMSolverMultistepScheduler", "DDPMScheduler", "DDIMScheduler"]

    @register_to_config
    def __init__(self, *, num_train_timesteps: int = 1000, beta_start: float = 0.0001, beta_end: float = 0.02,
                 beta_schedule: str = "linear", trained_betas: np.ndarray | list[float] | None = None,
                 solver_order: int = 2, prediction_type: Literal["epsilon", "v_prediction"] = "epsilon",
                 thresholding: bool = False, algorithm_type: str = "dpmsolver++", solver_type: str = "midpoint",
                 lower_order_final: bool = True, euler_at_final: bool = False, final_sigmas_type: str = "zero",
                 timestep_spacing: Literal["linspace", "leading", "trailing"] = "linspace", steps_offset: int = 0,
                 rescale_betas_zero_snr: bool = False, sigma0: float = 1.0,
                 xi_family: Literal["per_channel", "brightness", "dirac"] = "per_channel", sigma_c: float = 1.0,
                 gamma: str | list[float] = "balanced", jump: Literal["whitened", "xi"] = "whitened",
                 clip_sample: bool = False, use_karras_sigmas: bool = False, lambda_min_clipped: float = -float("inf"),
                 variance_type: str | None = None):
        fixed = {"solver_order": (solver_order, 2), "algorithm_type": (algorithm_type, "dpmsolver++"),
                 "solver_type": (solver_type, "midpoint"), "final_sigmas_type": (final_sigmas_type, "zero"),
                 "use_karras_sigmas": (use_karras_sigmas, False), "variance_type": (variance_type, None),
                 "clip_sample": (clip_sample, False)}
        for name, (got, allowed) in fixed.items():
            if got != allowed:
                raise ValueError(f"{name} must be {allowed!r} here (DPM-Solver++(2M), midpoint form), got {got!r}")
        if lambda_min_clipped != -float("inf"):
            raise ValueError(f"lambda_min_clipped must be -inf here, got {lambda_min_clipped!r}")
        if jump not in JUMPS:
            raise ValueError(f"jump must be one of {JUMPS}, got {jump!r}")
        self._setup()
        self._prev = None

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, timesteps=None):
        """The stock DPM scheduler's descending 0-based timesteps (see the module docstring; T-1 first), or the given
        descending `timesteps` (which must start at T-1); `step` goes to the next one, the last to x̂_0."""
        T = self.config.num_train_timesteps
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("pass exactly one of num_inference_steps or timesteps")
        if timesteps is None:
            timesteps = dpm_timesteps(T, num_inference_steps, self.config.timestep_spacing, self.config.steps_offset)
        elif int(list(timesteps)[0]) != T - 1:
            raise ValueError(f"timesteps must start at {T - 1} (t = T, where x_T ~ N(ξ, σ_0² I) holds), "
                             f"got {int(list(timesteps)[0])}")
        super().set_timesteps(timesteps=timesteps, device=device)
        self.custom_timesteps = False
        self._prev = None

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator=None, variance_noise=None,
             return_dict: bool = True):
        """x at the next timestep (x̂_0 after the last) by the 2M jump; the previous step's x̂_0 (and ξ̂) are kept here.

        Steps must follow the timesteps of set_timesteps in order (a step that does not follow the previous one
        is taken first order).  generator / variance_noise are accepted and unused (the solver is deterministic).
        """
        if self._grid is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step")
        t, s = self._jump(timestep)
        B = sample.shape[0]
        tt = torch.full((B,), t, dtype=torch.long, device=sample.device)
        ss = torch.full((B,), s, dtype=torch.long, device=sample.device)
        x0_hat, xi_hat = split_output(model_output, sample, tt, self.tables, self.xi_family, pred=self.pred)
        prev = self._prev
        i = self._grid.index(t)
        if prev is not None and (i == 0 or int(prev[0][0]) != self._grid[i - 1]):
            prev = None
        if self.config.jump == "whitened":
            x = whitened2m_step(sample, x0_hat, tt, ss, self.tables, self.xi_family, prev=prev)
        else:
            x = dpm2m_step(sample, x0_hat, xi_hat, tt, ss, self.tables, prev=prev)
        self._prev = (tt, x0_hat, xi_hat)
        if not return_dict:
            return (x,)
        return SchedulerOutput(prev_sample=x)
