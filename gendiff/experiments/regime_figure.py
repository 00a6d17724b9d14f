"""The regime figure: measured Var_gen/Var_data, W1(L_avg) and frac_extreme of L_avg against r (log axis).

One curve per method and schedule (n increasing along it; mean ± sd over seeds; marker shape = schedule), one row per data set, one figure per
sampler; the predictor's values (:func:`gendiff.regime.predict`, see `regime_results`) dashed over them
(Var ratio for both data sets, W1(L_avg) and frac_extreme for the Gaussian data, where they follow from it).
Drawn from results.json alone (byte-stable PNG, `figures.save`).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .figures import plt, save
from .vector_figures import style

PANELS = (("var_ratio", "Var_gen / Var_data of L_avg"), ("w1_brightness", "W1(L_avg)"),
          ("frac_extreme", "frac_extreme = P(|L_avg| > 0.8)"))
MARKERS = {"linear": "o", "scaled_linear": "s", "cosine": "^"}
COLOURS = {"base": "black", "base-signal-leak": "tab:green", "offset-w0.1": "tab:orange", "proposed-sc1": "tab:blue",
           "zero-snr": "0.55"}


def _colour(m: str):
    name = m[7:] if m.startswith("oracle-") else m
    return COLOURS.get(name, style(m)["color"])


def draw(out: Path, st: dict, by: dict, rs: dict, preds: dict, oracle: dict | None = None) -> list[Path]:
    """One PNG per sampler; `oracle`: cells of the exact-oracle rows (`oracle-<method>`) of the same data set,
    schedule, n and sampler, drawn hollow and dotted beside trained rows."""
    oracle = oracle or {}
    written = []
    for s in st["samplers"]:
        datasets = [d for d in st["datasets"] if any(k[0] == d and k[4] == s for k in by)]
        if not datasets:
            continue
        fig, axes = plt.subplots(len(datasets), 3, figsize=(16, 4.3 * len(datasets)), squeeze=False)
        for row, d in zip(axes, datasets):
            pts = sorted({(rs[k[:3]][0], k[1], k[2]) for k in by if k[0] == d and k[4] == s})
            for ax, (metric, title) in zip(row, PANELS):
                for m in st["methods"]:
                    labelled = False
                    for sch in st["schedules"]:                   # one line per schedule, n increasing
                        xs, ys, es, ps = [], [], [], []
                        for r, sc, n in pts:
                            v = by.get((d, sc, n, m, s), {}).get(metric) if sc == sch else None
                            if not v:
                                continue
                            xs.append(r)
                            ys.append(statistics.fmean(v))
                            es.append(statistics.stdev(v) if len(v) > 1 else 0.0)
                            ps.append(preds[(d, sch, n, m, s)][metric])
                        if not xs:
                            continue
                        ax.errorbar(xs, ys, yerr=es, color=_colour(m), lw=1.5, capsize=2, marker=MARKERS.get(sch, "o"),
                                    ms=5, label=None if labelled else m)
                        labelled = True
                        if metric == "var_ratio" or d == "gaussian":
                            ax.plot(xs, ps, ls="--", color=_colour(m), lw=1.0, alpha=0.8, marker="x", ms=5)
                        ox, oy = [], []
                        for r, sc, n in pts:
                            v = oracle.get((d, sc, n, f"oracle-{m}", s), {}).get(metric) if sc == sch else None
                            if v:
                                ox.append(r)
                                oy.append(statistics.fmean(v))
                        if ox:
                            ax.plot(ox, oy, ls=":", color=_colour(m), lw=1.0, marker=MARKERS.get(sch, "o"), ms=7,
                                    mfc="none")
                if metric == "frac_extreme":
                    fd = [x for k, v in by.items() if k[0] == d and k[4] == s for x in v.get("frac_extreme_data", [])]
                    if fd:
                        ax.axhline(statistics.fmean(fd), color="red", lw=0.8, ls=":", label="data")
                ax.set_xscale("log")
                if metric == "var_ratio":
                    ax.set_yscale("log")
                    ax.axhline(1.0, color="red", lw=0.8, ls=":")
                ax.set_xlabel("r = n·ᾱ_T·Var(L_avg(x_0))/σ_0²")
                ax.set_title(f"{d}, {s}: {title}")
            row[0].legend(fontsize=7, title="solid: measured (mean ± sd); dashed: predictor"
                          + ("; hollow dotted: exact oracle" if oracle else ""), title_fontsize=7)
        fig.suptitle(f"Brightness statistics against r, {s}; one line per method and schedule (marker: o linear, "
                     "□ scaled_linear, △ cosine; n increasing along it); dashed: gendiff.regime.predict", fontsize=10)
        fig.tight_layout()
        path = out / "figures" / f"regime-{s}.png"
        save(fig, path)
        written.append(path)
    return written
