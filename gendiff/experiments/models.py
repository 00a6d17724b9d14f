"""Denoisers: an MLP with a sinusoidal time embedding, sized for the data dimension n.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of 1-based steps t (B,) -> (B, dim), in float32 on t's device."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return emb if dim % 2 == 0 else torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=1)


class MLPDenoiser(nn.Module):
    """x_t (B, n), t (B,) -> prediction (B, n).  Hidden width defaults to min(256, max(128, 4n))."""

    def __init__(self, n: int, *, hidden: int | None = None, depth: int = 3, temb: int = 64):
        super().__init__()
        if n < 1 or depth < 1:
            raise ValueError(f"n and depth must be >= 1, got n={n}, depth={depth}")
        h = hidden or min(256, max(128, 4 * n))
        self.temb = temb
        self.inp = nn.Linear(n + temb, h)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(h, h)) for _ in range(depth - 1))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(h, n))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.inp(torch.cat([x, timestep_embedding(t, self.temb).to(x.dtype)], dim=1))
        for blk in self.blocks:
            h = h + blk(h)
        return self.out(h)


def build_seeded(factory, seed: int, device) -> nn.Module:
    """`factory()` with its initial weights drawn from `seed` alone, moved to `device`.

    The global RNG is forked (CPU and, on CUDA, that device), seeded, and restored afterwards: the weights do
    not depend on what ran before in the process, and the job leaves no trace in the global state.
    """
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = factory()
    return model.to(device)
