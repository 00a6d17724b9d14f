"""Sampler starts other than the prior N(ξ, σ_0² I): the signal-leak start (Everaert et al., WACV 2024).

A model trained without ξ (base) learned the forward law of x_T, whose brightness coordinate
z_T = 1ᵀx_T/√n has variance |w_T|² = ᾱ_T λ + σ_0²(1-ᾱ_T), while the prior start has σ_0²: the ratio
1 + r - ᾱ_T with r = n ᾱ_T Var(L_avg(x_0))/σ_0² grows with n [result 'start_mismatch': ratio_base, ratio_base_r].
:class:`SignalLeak` starts instead from

    x_T = √ᾱ_T · u + c_T ξ + σ_0 √(1-ᾱ_T) ε,   u[b, c] ~ N(m_c, v_c) broadcast over the channel,

with ξ ~ q(ξ) of the sampler's family (ξ = 0 for base, so c_T ξ drops out), ε ~ N(0, I), and (m_c, v_c) the
per-channel mean and variance of the training set's brightness L_avg.  Its brightness coordinate has mean
√ᾱ_T √n m_c and variance ᾱ_T n v_c + c_T² N + σ_0²(1-ᾱ_T): the forward law's, so variance ratio 1 and KL 0
for every n [result 'start_mismatch': leak_mean, leak_var, leak_noise_var].  The per-component noise
variance is σ_0²(1-ᾱ_T), the forward marginal's noise term; the components orthogonal to 1 (the image's
detail) get no signal, so their variance is σ_0²(1-ᾱ_T) rather than the forward's σ_0²(1-ᾱ_T) + ᾱ_T·(detail variance).

Shapes: (B, n) is one channel of n components; (B, C, H, W) has C channels of n = H·W components.
Randomness: u first, then ξ, then ε, all from `generator`.

The samplers' default `start="auto"` is the prior start after :func:`check_prior_start`: it refuses where the
prior's brightness variance S_0 = σ_0² + N (N = n σ_c² of q(ξ), 0 for dirac) misses the forward law's |w_T|²
by more than the factor 1 + τ, τ = `START_TOLERANCE`, for data of Var(L_avg) = `ASSUMED_DATA_VAR` (uniform
brightness on [-1, 1]; the data are unknown to a sampler).  For base that is exactly n > n_max =
σ_0²(τ + ᾱ_T)/(ᾱ_T V) per channel [start_mismatch.n_max_base]: linear (β_T = 0.02, T = 1000) n_max ≈ 7400,
SD's scaled_linear n_max ≈ 67 (so 64×64 latents are refused); base (n ≥ 1) and the proposed start are never
refused below, nor the proposed start above, where ᾱ_T ≤ τ/(1+τ) and ᾱ_T V/σ_c² ≤ τ [start_mismatch.floor_gap,
gap_proposed]; zero terminal SNR never.  Where it refuses, deterministic samplers would keep at most 1/ρ of the
brightness variance of Gaussian data with exact conditional means [start_mismatch.det_bound].  `start="prior"`
samples the model as trained without the check.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from . import _reference as R
from .errors import InputError
from .sampler_grids import xi_direction_variance
from .tables import Tables
from .xi import Dirac, XiFamily

START_TOLERANCE = 0.1          # τ: the prior start is refused where ρ = |w_T|²/S_0 lies outside [1/(1+τ), 1+τ]
ASSUMED_DATA_VAR = 1.0 / 3.0   # Var(L_avg(x_0)) the check assumes: uniform brightness on [-1, 1]


def channel_size(shape) -> int:
    """n, the components per channel: shape[1] of (B, n), H·W of (B, C, H, W) (the product of shape[2:])."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise InputError(f"shape must be (B, n) or (B, C, ...), got {shape}")
    n = 1
    for s in shape[1:] if len(shape) == 2 else shape[2:]:
        n *= s
    return n


def prior_start_ratio(tables: Tables, xi_family: XiFamily, shape, data_var: float = ASSUMED_DATA_VAR) -> float:
    """ρ = |w_T|²/S_0 of the brightness coordinate for the prior start N(ξ, σ_0² I) [start_mismatch: var_forward,
    start_base, start_proposed]: |w_T|² = ᾱ_T n V + c_T² N + σ_0²(1-ᾱ_T), S_0 = σ_0² + N, N = the ξ variance
    along the brightness direction (`xi_direction_variance`), in float64 from the tables; NaN for a family whose
    covariance is not known."""
    n = channel_size(shape)
    N = xi_direction_variance(xi_family, shape)
    f64 = lambda v: torch.as_tensor(v, dtype=torch.float64)  # noqa: E731
    ab, cT = tables.alpha_bar[-1].double().cpu(), tables.c[-1].double().cpu()
    wsq = R.start_mismatch_wsq(ab, cT, f64(n * data_var), f64(N), f64(tables.sigma0)).item()
    return wsq / (tables.sigma0**2 + N)


def refused(rho: float) -> bool:
    """Whether the prior start of ratio ρ lies outside [1/(1+τ), 1+τ] (NaN, an unknown family: not refused)."""
    return not (rho != rho or 1 / (1 + START_TOLERANCE) <= rho <= 1 + START_TOLERANCE)


def check_prior_start(tables: Tables, xi_family: XiFamily, shape) -> None:
    """InputError (one line: cause, figures, remedies) where the prior start misses the forward law at t = T by
    more than 1 + τ (module docstring); nothing for families whose covariance the check does not know."""
    rho = prior_start_ratio(tables, xi_family, shape)
    if not refused(rho):
        return
    tau = START_TOLERANCE
    n, ab = channel_size(shape), float(tables.alpha_bar[-1])
    where = ""
    if isinstance(xi_family, Dirac) and ab > 0:
        f64 = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
        n_max = R.start_mismatch_n_max_base(f64(ab), f64(ASSUMED_DATA_VAR), f64(tables.sigma0), f64(tau)).item()
        where = f", refused above n_max = {n_max:.0f} [start_mismatch.n_max_base]"
    raise InputError(
        f"start='auto': the prior start N(ξ, σ_0² I) misses the forward law at t = T: ρ = |w_T|²/S_0 = {rho:.3g} "
        f"outside [{1 / (1 + tau):.3g}, {1 + tau:.3g}] for data with Var(L_avg) = 1/3 (ᾱ_T = {ab:.3g}, n = {n} per "
        f"channel{where}), so for Gaussian data with exact conditional means deterministic samplers keep at most "
        f"1/ρ = {1 / rho:.2f} of the brightness variance [start_mismatch.det_bound]; pass start=SignalLeak.fit(x0) (the fix for a model trained without ξ), or "
        f"start='prior' to sample the model as trained")


def channel_brightness(x: torch.Tensor) -> torch.Tensor:
    """L_avg per (sample, channel): (B, n) -> (B, 1); (B, C, H, W) -> (B, C)."""
    if not torch.is_tensor(x) or x.ndim not in (2, 4):
        raise InputError(f"x must be a (B, n) or (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    return x.mean(1, keepdim=True) if x.ndim == 2 else x.mean((2, 3))


class SignalLeak:
    """The signal-leak start with per-channel brightness law N(mean[c], var[c]) (float64 tensors of shape (C,))."""

    def __init__(self, *, mean, var):
        m = torch.as_tensor(mean, dtype=torch.float64).detach().cpu().reshape(-1)
        v = torch.as_tensor(var, dtype=torch.float64).detach().cpu().reshape(-1)
        if m.numel() < 1 or m.shape != v.shape:
            raise InputError(f"mean and var must be non-empty and of equal length (one per channel), got "
                             f"{tuple(m.shape)} and {tuple(v.shape)}")
        if not (torch.isfinite(m).all() and torch.isfinite(v).all()) or bool((v < 0).any()):
            raise InputError(f"mean must be finite and var finite and >= 0, got mean={m.tolist()}, var={v.tolist()}")
        self.mean, self.var = m, v

    @property
    def channels(self) -> int:
        return self.mean.numel()

    @classmethod
    def fit(cls, x0: torch.Tensor) -> "SignalLeak":
        """Per-channel mean and variance (unbiased, divisor B-1) of L_avg over a training set x0 (B ≥ 2)."""
        L = channel_brightness(x0).double()
        if L.shape[0] < 2:
            raise InputError(f"SignalLeak.fit needs at least 2 training samples to estimate a variance, got {L.shape[0]}")
        if not torch.isfinite(L).all():
            raise InputError("SignalLeak.fit: the training data hold non-finite values")
        return cls(mean=L.mean(0), var=L.var(0, unbiased=True))

    def __repr__(self):
        return f"SignalLeak(mean={self.mean.tolist()}, var={self.var.tolist()})"

    def _offset_shape(self, shape) -> tuple:
        shape = tuple(shape)
        if len(shape) == 2 and self.channels == 1:
            return (shape[0], 1)
        if len(shape) == 4 and shape[1] == self.channels:
            return (shape[0], shape[1], 1, 1)
        raise InputError(f"SignalLeak fitted on {self.channels} channel(s) cannot start shape {shape}: use (B, n) for "
                         f"one channel or (B, {self.channels}, H, W)")

    def draw(self, shape, tables: Tables, xi_family: XiFamily, *, generator=None, device=None,
             dtype=torch.float32) -> torch.Tensor:
        """x_T = √ᾱ_T u + c_T ξ + σ_0 √(1-ᾱ_T) ε (module docstring); coefficients in float64, cast at the end."""
        oshape = self._offset_shape(shape)
        ab, om, cT = tables.alpha_bar[-1], tables.one_minus_alpha_bar[-1], tables.c[-1]
        z = torch.randn(oshape[:2], generator=generator, device=device, dtype=torch.float64)
        u = self.mean.to(z.device) + self.var.to(z.device).sqrt() * z
        x = (ab.sqrt().item() * u).reshape(oshape).to(dtype).expand(shape)
        xi = xi_family.sample(shape, generator=generator, device=device, dtype=dtype)
        eps = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return x + cT.item() * xi + (tables.sigma0 * om.sqrt().item()) * eps
