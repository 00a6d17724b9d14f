"""A compact convolutional UNet for small images (B, C, H, W), with a sinusoidal time embedding.

Two resolution levels (H×W and H/2×W/2), one residual block per level on the way down and up, one in the
middle, skip connections by concatenation, GroupNorm + SiLU, the time embedding added inside every residual
block (DDPM's "ResBlock + time bias" design, Ho et al. 2020, scaled down).  `t` is 1-based (B,) long.
The output has the input's shape (ε- or v-prediction, whichever the loss trains).  H and W must be even.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import torch
from torch import nn

from .models import timestep_embedding


def _norm(ch: int) -> nn.GroupNorm:
    """GroupNorm with groups of 4 channels (a single group below 4 channels)."""
    return nn.GroupNorm(max(1, ch // 4), ch)


class ResBlock(nn.Module):
    """x (B, cin, h, w), emb (B, E) -> (B, cout, h, w): two 3×3 convolutions, time bias after the first."""

    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.n1, self.c1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.n2, self.c2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x, emb):
        h = self.c1(nn.functional.silu(self.n1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.c2(nn.functional.silu(self.n2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """x_t (B, C, H, W), t (B,) -> (B, C, H, W).  Widths `ch` (full resolution) and `2·ch` (half)."""

    def __init__(self, channels: int = 1, *, ch: int = 32, temb: int = 64):
        super().__init__()
        if channels < 1 or ch < 1:
            raise ValueError(f"channels and ch must be >= 1, got channels={channels}, ch={ch}")
        e = 2 * temb
        self.temb = temb
        self.t_mlp = nn.Sequential(nn.Linear(temb, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv2d(channels, ch, 3, padding=1)
        self.down0 = ResBlock(ch, ch, e)
        self.pool = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.mid = ResBlock(2 * ch, 2 * ch, e)
        self.unpool = nn.Upsample(scale_factor=2, mode="nearest")
        self.up0 = ResBlock(3 * ch, ch, e)
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"UNet needs (B, C, H, W) with even H, W; got {tuple(x.shape)}")
        emb = self.t_mlp(timestep_embedding(t, self.temb).to(x.dtype))
        h0 = self.down0(self.inp(x), emb)                     # (B, ch, H, W)
        h = self.mid(self.pool(h0), emb)                      # (B, 2ch, H/2, W/2)
        h = self.up0(torch.cat([self.unpool(h), h0], 1), emb)
        return self.out(h)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
