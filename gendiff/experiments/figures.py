"""Report figures (matplotlib, PNG without embedded metadata so that reruns are byte-stable).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .. import _reference as R  # noqa: E402
from ..audit import implied_target  # noqa: E402
from ..io import write_bytes_atomic  # noqa: E402
from ..schedules import make_beta  # noqa: E402
from ..tables import build_tables  # noqa: E402

SCHEDULES = ("linear", "scaled_linear", "cosine")


def save(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def coefficients_figure(path, T=1000):
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    t = np.arange(1, T + 1)
    for name in SCHEDULES:
        tb = build_tables(make_beta(name, T))
        for ax, key, label in zip(axes.flat, ("gamma", "c", "psi", "phi"),
                                  ("γ_t", "c_t (ξ-coefficient of the mean)", "ψ_t (input)", "ϕ_t (target)")):
            ax.plot(t, getattr(tb, key).numpy(), label=name)
            ax.set_title(f"balanced {label}")
            ax.set_yscale("log")
    for ax in axes[1]:
        ax.set_xlabel("time step t")
    axes[0, 0].legend()
    fig.suptitle(f"Balanced schedule coefficients (normalised c_T = 1), T = {T}")
    fig.tight_layout()
    save(fig, path)


def balanced_vs_offset_figure(path, T=1000, w=0.1):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    t = np.arange(1, T + 1)
    for ax, name in zip(axes, SCHEDULES):
        beta = make_beta(name, T)
        tb = build_tables(beta)
        ax.plot(t, tb.psi.numpy(), label="balanced ψ_t = ϕ_t")
        ax.axhline(w, color="k", ls="--", label=f"conventional offset w = {w}")
        ax.plot(t, implied_target(beta, torch.full((T,), w, dtype=torch.float64)).numpy(), color="C3",
                label=f"ELBO target for input w = {w}")
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("time step t")
    axes[0].set_ylabel("ξ-weight in the noise")
    axes[0].legend(fontsize=8)
    fig.suptitle("Balanced ξ-weights vs conventional offset noise")
    fig.tight_layout()
    save(fig, path)


def brightness_figure(path, points: dict, sigma0=1.0, sigma_c=1.0):
    """Derived Var[L_avg(x_T)] vs n (lines, from the generated reference) and Monte Carlo points."""
    ns = np.unique(np.round(np.logspace(0, np.log10(1024), 60)).astype(int))
    nt = torch.tensor(ns, dtype=torch.float64)
    s0, sc = torch.tensor(sigma0, dtype=torch.float64), torch.tensor(sigma_c, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(ns, R.brightness_var_base(nt, s0).numpy(), "C0", label="base, derived σ0²/n")
    ax.plot(ns, R.brightness_var_proposed(nt, s0, sc).numpy(), "C1", label="proposed, derived σ0²/n + σc²")
    for key, color in (("base", "C0"), ("proposed", "C1")):
        n, m, sd = (np.array(v) for v in zip(*points[key]))
        ax.errorbar(n, m, yerr=sd, fmt="o", color=color, capsize=3, label=f"{key}, Monte Carlo (mean ± sd)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("dimension n")
    ax.set_ylabel("Var[L_avg(x_T)]")
    ax.set_title(f"Brightness variance at the reverse start, σ0 = {sigma0}, σc = {sigma_c}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path)
