"""Digit-likeness score that brightness cannot game.

A multinomial logistic regression without intercept (scikit-learn, lbfgs, C = 0.1, deterministic) is
trained on the *unshifted* train digits of `digits-brightness` (no intercept: a blank image gets p = 1/10).
Every image, training or generated, is first *standardised*: its mean is removed and it is divided by its
own standard deviation (+1e-6), so that neither the global brightness u nor the contrast lost to clipping
changes what the classifier sees; a solid image becomes all zeros.

Scores on a set of images (no labels needed):
- `digit_conf`: the mean over images of the classifier's top probability max_k p(k | x).  It is high
  only for images that look like *some* digit: held-out images score ≈ 0.86, Gaussian noise ≈ 0.50,
  solid images 0.10.
- `digit_is`: exp(E_x KL(p(y | x) ‖ p(y))), the classifier analogue of the Inception score (1..10); it also
  drops when the generated digits collapse onto few classes.
Held-out images come with labels, so their accuracy is reported too, as the reference.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .images import digits


def standardise(x) -> np.ndarray:
    """(B, ...) images -> (B, n) float64 rows with zero mean and unit standard deviation (+1e-6)."""
    a = torch.as_tensor(x).detach().double().cpu().flatten(1).numpy()
    a = a - a.mean(1, keepdims=True)
    return a / (a.std(1, keepdims=True) + 1e-6)


@lru_cache(maxsize=1)
def digit_classifier():
    """The fitted classifier (cached per process); its accuracy on the unshifted test digits is 0.974."""
    from sklearn.linear_model import LogisticRegression
    d, lab = digits("train")
    return LogisticRegression(C=0.1, fit_intercept=False, max_iter=3000).fit(standardise(d), lab.numpy())


def probabilities(x) -> np.ndarray:
    """Class probabilities of images (B, 1, H, W), H = W a multiple of 8: larger images are average-pooled to 8×8
    first (the exact inverse of `images.upsample`)."""
    x = torch.as_tensor(x)
    if x.ndim == 4 and x.shape[-1] != 8:
        k = x.shape[-1] // 8
        x = torch.nn.functional.avg_pool2d(x.double(), k)
    a = standardise(x)
    if not np.isfinite(a).all():
        raise ValueError("images contain NaN or inf")
    return digit_classifier().predict_proba(a)


def digit_scores(x, labels=None) -> dict[str, float]:
    """{'digit_conf', 'digit_is'} and, with labels, 'digit_acc' for images x (B, 1, H, W)."""
    p = probabilities(x)
    marg = p.mean(0)
    kl = (p * (np.log(p + 1e-12) - np.log(marg + 1e-12))).sum(1).mean()
    out = {"digit_conf": float(p.max(1).mean()), "digit_is": float(np.exp(kl))}
    if labels is not None:
        out["digit_acc"] = float((p.argmax(1) == torch.as_tensor(labels).numpy()).mean())
    return out
