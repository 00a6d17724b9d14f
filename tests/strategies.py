"""Hypothesis strategies for schedules and parameters shared by the tests."""
import numpy as np
import torch
from hypothesis import strategies as st

from gendiff.schedules import make_beta


@st.composite
def betas(draw, max_T=1000, min_T=1):
    """Random valid schedules: named families at random T, or random arrays."""
    kind = draw(st.sampled_from(["linear", "scaled_linear", "cosine", "random", "random"]))
    T = draw(st.integers(min_T, max_T))
    if kind == "random":
        seed = draw(st.integers(0, 2**31 - 1))
        lo = draw(st.floats(1e-5, 1e-2))
        hi = draw(st.floats(lo * 1.01, 0.5))
        rng = np.random.default_rng(seed)
        return torch.from_numpy(np.exp(rng.uniform(np.log(lo), np.log(hi), T)))
    if kind != "cosine" and T == 1:
        return make_beta(kind, 2)[1:]
    return make_beta(kind, T)


sigma0s = st.floats(0.05, 5.0)
ws = st.floats(-2.0, 2.0)
