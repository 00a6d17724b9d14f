"""Figures of a vector-data experiment folder (cylinder, gaussian), drawn from results.json and figure_data.json
(the statistics over seeds are those of `tables`).

`metrics_vs_n.png` and `w1_brightness_vs_steps.png` need only the metric values of results.json; the brightness
histograms and the training-loss curve need figure_data.json (held-out and generated L_avg histograms per n,
summed over seeds; the loss curve of seed 0 at the largest n), which folders run before that file existed lack.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import sampling  # noqa: E402
from .figures import save  # noqa: E402
from .tables import group, stats  # noqa: E402

METRICS = ("w1_brightness", "w1", "mmd")


def style(m):
    """Colour by family (base/zero-snr greys, offset reds, proposed blues), dashed for oracles."""
    name = m[7:] if m.startswith("oracle-") else m
    ls = "--" if m.startswith("oracle-") else "-"
    if name.startswith("offset-w"):
        colour = plt.cm.Oranges(0.45 + 0.5 * min(1.0, float(name[8:])))
    elif name.startswith("proposed-sc"):
        colour = plt.cm.Blues(0.45 + 0.25 * min(2.0, float(name[11:])))
    else:
        colour = "black" if name == "base" else "0.55"
    main = name in ("base", "offset-w0.1", "proposed-sc1", "zero-snr")
    return dict(color=colour, ls=ls, lw=2.0 if main else 1.0, marker="o" if main else ".")


def _panel_groups(methods):
    groups = [("DDPM (base) and zero-terminal-SNR", [m for m in methods if m in ("base", "zero-snr")]),
              ("conventional offset noise (constant w)", [m for m in methods if m.startswith("offset-w")]),
              ("proposed (balanced γ, q(ξ) = N(0, σ_c² 11ᵀ))", [m for m in methods if m.startswith("proposed-")]),
              ("exact empirical oracle (ablation)", [m for m in methods if m.startswith("oracle-")])]
    return [(t, ms) for t, ms in groups if ms]


def figure_data(records, dims) -> dict:
    """The compact data behind the histogram and loss figures (stored as figure_data.json)."""
    hist_gen, loss = {}, {}
    for r in records:
        h = hist_gen.setdefault(r["method"], {}).setdefault(str(r["n"]), [0] * len(r["hist_gen"]))
        hist_gen[r["method"]][str(r["n"])] = [a + int(b) for a, b in zip(h, r["hist_gen"])]
        if r["n"] == dims[-1] and r["method"] not in loss and r["loss_curve"]:
            loss[r["method"]] = [list(p) for p in r["loss_curve"]]
    hist_data = {str(n): [int(v) for v in next(r for r in records if r["n"] == n)["hist_data"]] for n in dims}
    return {"hist_edges": [-2.5, 2.5, 50], "hist_data": hist_data, "hist_gen": hist_gen, "loss_curve": loss}


def draw(out: Path, runs, methods, dims, fig) -> list[Path]:
    """Write the figures whose data is present; returns their paths."""
    d = out / "figures"
    by = group(runs, "method", "n")
    figs, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, k in zip(axes, METRICS):
        for m in methods:
            ns = [n for n in dims if (m, n) in by]
            st = [stats([r[k] for r in by[(m, n)]]) for n in ns]
            ax.errorbar(ns, [s[0] for s in st], yerr=[s[1] for s in st], capsize=3, label=m, **style(m))
        ax.set_xscale("log", base=2)
        if k == "w1":
            ax.set_yscale("log")
        ax.set_xlabel("dimension n")
        ax.set_ylabel(k + (" (log scale)" if k == "w1" else ""))
        ax.set_title(f"{k} vs n (mean ± sd over seeds; lower is better)")
    axes[0].legend(fontsize=7, ncol=2)
    figs.tight_layout()
    save(figs, d / "metrics_vs_n.png")
    written = [d / "metrics_vs_n.png"]
    if any(len(r.get("samplers", {})) > 1 for r in runs):
        sampling.figure(runs, dims, style, d / "w1_brightness_vs_steps.png", save)
        written.append(d / "w1_brightness_vs_steps.png")
    if fig is not None:
        written += _histograms(d, fig, by, methods, dims) + [_loss(d, fig, methods, dims)]
    return written


def _histograms(d, fig, by, methods, dims):
    lo, hi, bins = fig["hist_edges"]
    edges = np.linspace(lo, hi, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    groups = _panel_groups(methods)
    written = []
    for n in sorted({dims[0], dims[-1]}):
        figs, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), sharey=True, squeeze=False)
        hd = fig["hist_data"][str(n)]
        data = np.array(hd, dtype=float) / max(1, sum(hd))
        gen = {m: np.array(fig["hist_gen"][m][str(n)], dtype=float) for m in methods if (m, n) in by}
        used = np.nonzero(data + sum(gen.values()))[0]
        lim = (edges[max(used[0] - 1, 0)], edges[min(used[-1] + 2, len(edges) - 1)])
        for ax, (title, ms) in zip(axes[0], groups):
            ax.bar(centers, data, width=edges[1] - edges[0], color="0.85", label="held-out data")
            for m in ms:
                if m not in gen:
                    continue
                st = style(m)
                ax.step(centers, gen[m] / max(1, gen[m].sum()), where="mid", label=f"{m} ({len(by[(m, n)])} seeds)",
                        color=st["color"], ls=st["ls"], lw=st["lw"])
            ax.set_xlim(*lim)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("L_avg(x_0) (average brightness)")
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("fraction of samples")
        figs.suptitle(f"Brightness of generated samples vs data, n = {n}")
        figs.tight_layout()
        save(figs, d / f"brightness_hist_n{n}.png")
        written.append(d / f"brightness_hist_n{n}.png")
    return written


def _loss(d, fig, methods, dims):
    figs, ax = plt.subplots(figsize=(7, 4))
    for m in methods:
        if fig["loss_curve"].get(m):
            s, v = zip(*fig["loss_curve"][m])
            ax.plot(s, v, label=m, color=style(m)["color"], lw=style(m)["lw"])
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (v-prediction, running mean)")
    ax.set_title(f"Training loss, n = {dims[-1]}, seed 0")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    figs.tight_layout()
    save(figs, d / "training_loss.png")
    return d / "training_loss.png"
