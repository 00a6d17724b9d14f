"""Metrics of CONVENTIONS.md (float64).

- `w1_brightness`: exact 1-D W1 between the L_avg values (scipy.stats.wasserstein_distance).
- `w1`: W1 in R^n on equal-size sets, exact optimal transport as an assignment problem
  (scipy.optimize.linear_sum_assignment on Euclidean costs).
- `mmd`: unbiased squared MMD, Gaussian kernel k(a, b) = exp(-‖a-b‖²/(2h²)), bandwidth h = median of the
  pairwise distances between distinct points of the pooled set.
- `significant`: a value rounded to METRIC_DIGITS significant digits, as stored in result(s).json, so that
  stored results do not depend on the machine, its load or its thread count (which change the last bits).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance


METRIC_DIGITS = 4


def significant(x: float, digits: int = METRIC_DIGITS) -> float:
    """x rounded to `digits` significant digits (a float whose shortest repr has at most that many)."""
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"cannot store a non-finite metric value ({x})")
    return float(f"{x:.{digits - 1}e}")


def _np(x):
    x = torch.as_tensor(x).detach().double().cpu().numpy()
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or inf")
    return x


def brightness(x) -> torch.Tensor:
    """L_avg(x): mean over all but the batch dimension."""
    return torch.as_tensor(x).flatten(1).mean(1)


def w1_brightness(x, y) -> float:
    return float(wasserstein_distance(_np(brightness(x)), _np(brightness(y))))


def w1(x, y) -> float:
    a, b = _np(x), _np(y)
    if a.shape != b.shape:
        raise ValueError(f"w1 needs equal-size sets of equal dimension, got {a.shape} and {b.shape}")
    C = cdist(a.reshape(len(a), -1), b.reshape(len(b), -1))
    r, c = linear_sum_assignment(C)
    return float(C[r, c].mean())


def mmd(x, y) -> tuple[float, float]:
    """(unbiased MMD², bandwidth h) of sample sets x (m, ...) and y (n, ...), m, n >= 2."""
    a, b = torch.from_numpy(_np(x)).flatten(1), torch.from_numpy(_np(y)).flatten(1)
    if len(a) < 2 or len(b) < 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"mmd needs two sets of >= 2 samples of equal dimension, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    z = torch.cat([a, b])
    d2 = torch.cdist(z, z).pow(2)
    m = len(a)
    iu = torch.triu_indices(len(z), len(z), 1)
    h = float(d2[iu[0], iu[1]].sqrt().median())
    K = torch.exp(-d2 / (2 * h * h))
    Kxx, Kyy, Kxy = K[:m, :m], K[m:, m:], K[:m, m:]
    n2 = len(b)
    val = ((Kxx.sum() - Kxx.trace()) / (m * (m - 1)) + (Kyy.sum() - Kyy.trace()) / (n2 * (n2 - 1))
           - 2 * Kxy.mean())
    return float(val), h
