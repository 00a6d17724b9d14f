"""Image data set `digits-brightness`: scikit-learn's bundled 8×8 digits with a global brightness per image.

Definition (no download: the 1797 digits ship inside scikit-learn as `sklearn.datasets.load_digits`):

    d      = pixels / 8 − 1                      grey levels 0..16 mapped to [−1, 1], shape (1, 8, 8)
    d̃      = d − L_avg(d)                        the digit with its own mean removed
    x      = clip(c·d̃ + u, −1, 1)                c = 1/2 (contrast), u ~ U[−b, b], b = 5/4 (brightness)

so that, before clipping, L_avg(x) = u exactly; the clip saturates the background (near-black images) or the
strokes (near-white images).  With b = 5/4 about 26 % of images have |L_avg| > 0.8 (`extreme_fraction`;
the measured value of each split is in the experiment's results.md).

Splits (fixed seeds): the digits are permuted with seed 20241204; the first 500 are the *test* digits, the
other 1297 the *train* digits.  `make_images('train')` draws `TRAIN_DRAWS` = 8 brightnesses per train digit
(10 376 images), `make_images('test')` 2 per test digit (1000 held-out images), each split from its own seed.
Labels (0–9) come along for the digit-likeness score.  Tensors are float64 (B, 1, 8, 8), B ordered by draw,
then digit.  `size` = 16, 32, ... upsamples each digit d by repeating every pixel (size/8)² times before the shift
(n = size² per channel), so L_avg(d), the brightness construction and the clip are the same as at 8×8.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

CONTRAST = 0.5
BRIGHTNESS_RANGE = 1.25
EXTREME = 0.8            # |L_avg| above this: near-black or near-white
N_TEST_DIGITS = 500
TRAIN_DRAWS, TEST_DRAWS = 8, 2
PERM_SEED = 20241204
SPLIT_SEEDS = {"train": 21, "test": 23}


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:          # pragma: no cover - scikit-learn is a dependency
        raise ImportError("the digits-brightness data set needs scikit-learn (pip install scikit-learn)") from e
    d = load_digits()
    return d.images.astype(np.float64) / 8.0 - 1.0, d.target.astype(np.int64)


def digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The unshifted digits d of a split: ((N, 1, 8, 8) float64 in [−1, 1], (N,) labels)."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}")
    img, lab = _digits()
    perm = np.random.default_rng(PERM_SEED).permutation(len(img))
    idx = perm[:N_TEST_DIGITS] if split == "test" else perm[N_TEST_DIGITS:]
    return torch.from_numpy(img[idx]).unsqueeze(1), torch.from_numpy(lab[idx])


def upsample(d: torch.Tensor, size: int) -> torch.Tensor:
    """Digits (B, 1, 8, 8) -> (B, 1, size, size), every pixel repeated (size/8)² times (nearest; keeps L_avg)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 8:
        raise ValueError(f"size must be a multiple of 8 (8, 16, 32, ...), got {size!r}")
    k = size // 8
    return d if k == 1 else d.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)


def shift(d: torch.Tensor, u: torch.Tensor, *, contrast: float = CONTRAST) -> torch.Tensor:
    """x = clip(c·(d − L_avg(d)) + u, −1, 1) for digits d (B, 1, H, W) and brightnesses u (B,)."""
    centred = d - d.flatten(1).mean(1)[:, None, None, None]
    return (contrast * centred + u[:, None, None, None]).clamp(-1.0, 1.0)


def make_images(split: str, *, draws: int | None = None, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-seed `digits-brightness` images of a split: ((B, 1, size, size) float64, (B,) labels); the
    brightnesses u do not depend on `size`."""
    d, lab = digits(split)
    d = upsample(d, size)
    k = draws or (TRAIN_DRAWS if split == "train" else TEST_DRAWS)
    g = torch.Generator().manual_seed(SPLIT_SEEDS[split])
    u = (torch.rand(k * len(d), generator=g, dtype=torch.float64) * 2 - 1) * BRIGHTNESS_RANGE
    return shift(d.repeat(k, 1, 1, 1), u), lab.repeat(k)


def extreme_fraction(x: torch.Tensor, *, threshold: float = EXTREME) -> dict[str, float]:
    """Fractions of images with L_avg < −threshold (near-black), > threshold (near-white), and either."""
    L = torch.as_tensor(x).flatten(1).mean(1)
    black, white = float((L < -threshold).double().mean()), float((L > threshold).double().mean())
    return {"frac_black": black, "frac_white": white, "frac_extreme": black + white}
