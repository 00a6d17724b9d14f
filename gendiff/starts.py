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

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import torch

from .errors import InputError
from .tables import Tables
from .xi import XiFamily


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
