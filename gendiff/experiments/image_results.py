"""The tables and figures of an image experiment folder (digits), for the results writer `results`.

`aggregate` turns the per-sampler job records into results.json (with the data's own values) and
figure_data.json (histograms, sample grids of seed 0); `write_timings` writes timings.md; `render` writes
results.md and the figures from results.json and figure_data.json.  results.json and results.md are
byte-stable: metric values are rounded to METRIC_DIGITS (4) significant digits (`metrics.significant`) before
averaging, and run times, which vary from run to run, go to timings.md only.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import write_text_atomic  # noqa: E402
from . import images as I  # noqa: E402
from .classifier import digit_scores  # noqa: E402
from .figures import save  # noqa: E402
from .metrics import METRIC_DIGITS, mmd, significant, w1_brightness  # noqa: E402
from .tables import cell as _cell  # noqa: E402
from .tables import group, per_sampler, provenance, prune, welch_verdict  # noqa: E402
from .tables import stats as _stats  # noqa: E402

DATASET = "digits-brightness"

METRICS = ("w1_brightness", "frac_black", "frac_white", "frac_extreme", "frac_error", "mmd", "digit_conf",
           "digit_is")
HIGHER_IS_BETTER = ("digit_conf", "digit_is")
TESTED = ("w1_brightness", "frac_error", "mmd", "digit_conf")


def reference(n: int, size: int = 8) -> dict:
    """The data's own values: held-out fractions and digit scores, and the floor of W1/MMD (train vs held-out)."""
    ref, lab = (v[:n] for v in I.make_images("test", size=size))
    other = I.make_images("train", size=size)[0][:n]
    m2, _ = mmd(other.flatten(1), ref.flatten(1))
    return {**I.extreme_fraction(ref), **digit_scores(ref, lab), "w1_brightness_floor": w1_brightness(other, ref),
            "mmd_floor": m2}


def best_of(family: str, by, sampler, methods):
    """The member of a family ('offset-w', 'proposed-sc') with the lowest mean W1(L_avg) under `sampler`."""
    cands = [m for m in methods if m.startswith(family) and (m, sampler) in by]
    return min(cands, key=lambda m: (_stats([r["w1_brightness"] for r in by[(m, sampler)]])[0], m)) if cands else None


def aggregate(records: list[dict], *, profile: str, prof, device: str, dataset=None) -> tuple[dict, dict]:
    """(results.json, figure_data.json) of the per-sampler job records: flat metric records and the settings,
    the data's own values; histograms summed over seeds and the sample grids of seed 0."""
    records = sorted(records, key=lambda r: (r["sampler"], r["method"], r["seed"]))
    samplers = [s for s in prof.samplers if any(r["sampler"] == s for r in records)]
    ref = {k: significant(v) for k, v in reference(prof.n_test, prof.size).items()}
    params = records[0]["params"]
    settings = {"dataset": DATASET, "profile": profile, "schedule": records[0]["schedule"], "T": prof.T,
                "dims": [prof.size**2], **({"size": prof.size} if prof.size != 8 else {}), "seeds": prof.seeds, "steps": prof.steps, "batch": prof.batch, "n_generated": prof.n_gen,
                "n_test": prof.n_test, "model": f"UNet ch={prof.ch} ({params} parameters)", "prediction": "v",
                "optimizer": "Adam lr=1e-3, clip 1", "samplers": samplers, "contrast": I.CONTRAST,
                "brightness_range": I.BRIGHTNESS_RANGE, "extreme_threshold": I.EXTREME,
                "metric_digits": METRIC_DIGITS, "ch": prof.ch, "params": params, "devices": [device]}
    flat = [{"method": r["method"], "seed": r["seed"], "sampler": s, "schedule": r["schedule"],
             "metric": k, "value": significant(sc[k])}
            for r, s, sc in per_sampler(records) for k in METRICS + ("mmd_bandwidth",)]
    hist, grid = {}, {f"{r['method']}|{r['sampler']}": r["grid"] for r in records if r["seed"] == 0}
    for r in records:
        key = f"{r['method']}|{r['sampler']}"
        hist[key] = [a + int(b) for a, b in zip(hist.get(key, [0] * len(r["hist_gen"])), r["hist_gen"])]
    return {"settings": settings, "data": ref, "records": flat}, {"hist_gen": hist, "grid": grid}


def render(out: Path, data: dict) -> list[Path]:
    """results.md and figures of a digits folder from results.json (`data`) and figure_data.json; returns the
    figures."""
    st, ref = data["settings"], data["data"]
    runs = {}
    for r in data["records"]:
        runs.setdefault((r["sampler"], r["method"], r["seed"]), {"method": r["method"], "seed": r["seed"],
                        "sampler": r["sampler"], "n_test": st["n_test"]})[r["metric"]] = r["value"]
    records = [runs[k] for k in sorted(runs)]
    samplers, methods = st["samplers"], sorted({r["method"] for r in records}, key=_order)
    by_r = group(records, "method", "sampler")
    lines = _header(out, st, samplers, ref)
    lines += _answers(by_r, methods, samplers, ref)
    for s in samplers:
        lines += _table(by_r, methods, s)
    write_text_atomic(out / "results.md", "\n".join(lines) + "\n")
    fd = out / "figure_data.json"
    return _figures(out, json.loads(fd.read_text()), records, methods, samplers, st) if fd.exists() else []


def _order(m):
    fam = 0 if m == "base" else 1 if m.startswith("offset-") else 2 if m.startswith("proposed-") else 3
    return fam, float(m.rsplit("w" if fam == 1 else "sc", 1)[1]) if fam in (1, 2) else 0.0, m


def _header(out, st, samplers, ref):
    data = ("Generated by `gendiff experiment digits --profile {p}`. **Data** (`gendiff/experiments/images.py`): "
            "scikit-learn's bundled 8×8 digits d (grey levels 0..16 → d = g/8 − 1 ∈ [−1, 1]), each shifted by a "
            "global brightness: x = clip(c·(d − L_avg(d)) + u, −1, 1), c = {c}, u ~ U[−{b}, {b}]. Fixed-seed split "
            "of the digits: {nt} test digits × {td} brightnesses = held-out images, the other 1297 digits × {rd} "
            "brightnesses = 10 376 training images.{up} Near-black / near-white: L_avg < −0.8 / > 0.8."
            ).format(up="" if st.get("size", 8) == 8 else f" Every digit is upsampled to {st['size']}×{st['size']} "
                     f"(each pixel repeated {(st['size'] // 8)**2} times, n = {st['size']**2}) before the shift; "
                     "digit-likeness is scored on the images average-pooled back to 8×8.",p=st["profile"], c=I.CONTRAST, b=I.BRIGHTNESS_RANGE, nt=I.N_TEST_DIGITS, td=I.TEST_DRAWS,
                     rd=I.TRAIN_DRAWS)
    model = ("**Model**: compact UNet (`unet.py`, width {ch}/{ch2}, {params} parameters), v-prediction, Adam 1e-3, "
             "clip 1, {steps} steps of batch {batch}, {sched} schedule, T = {T}; the same for every method. "
             "**Samplers**: {smp} (`stock-ddim` only on proposed models). Every cell: mean ± sd over seeds (count "
             "in brackets), {ng} generated images per run (clipped to [−1, 1]) vs {nt} held-out images. MMD² is "
             "unbiased on pixels with a Gaussian kernel, bandwidth by the median heuristic (≈ listed per run in "
             "results.json). Digit-likeness: `digit_conf` = mean top probability of a logistic-regression classifier "
             "trained on the unshifted digits, applied to each image after removing its mean and dividing by its "
             "std (brightness cannot move it); `digit_is` = exp E KL(p(y|x) ‖ p(y)) (1..10, also penalises collapse "
             "onto few classes). Run times: `timings.md`."
             ).format(ch=st["ch"], ch2=2 * st["ch"], params=st["params"], steps=st["steps"], batch=st["batch"],
                      T=st["T"], sched=st.get("schedule", "linear"), smp=", ".join(f"`{s}`" for s in samplers), ng=st["n_generated"], nt=st["n_test"])
    refs = " | ".join(f"{ref[k]:.4g}" for k in ("frac_black", "frac_white", "frac_extreme", "digit_conf",
                                                "digit_is", "digit_acc", "w1_brightness_floor", "mmd_floor"))
    head = [f"# Experiment: digits-brightness, profile `{st['profile']}`", "", data, "", model, ""]
    return head + provenance(out, st) + ["## The data", "",
            "| near-black | near-white | \\|L_avg\\| > 0.8 | digit_conf | digit_is | classifier accuracy | "
            "W1(L_avg) floor | MMD² floor |", "|---" * 8 + "|", f"| {refs} |", "",
            "Floors: the same metrics between training images and held-out images (what a perfect model would get).",
            ""]


def _consistent(vals, p, n) -> bool:
    """Seed mean within 2 standard errors (seed spread and the held-out set's binomial error) of the data's p."""
    mean, sd = _stats(vals)
    return abs(mean - p) <= 2 * math.sqrt(sd * sd / len(vals) + p * (1 - p) / n)


def _answers(by, methods, samplers, ref):
    lines = ["## Answers", "", "### 1. Does any method reproduce the data's fraction of near-black and near-white "
             "images?", "", f"Data: near-black {ref['frac_black']:.4g}, near-white {ref['frac_white']:.4g}, together "
             f"{ref['frac_extreme']:.4g}. *consistent*: the seed mean lies within 2·√(sd²/seeds + p(1−p)/n_test) of "
             "the data's fraction p (seed spread plus the held-out set's binomial error), for near-black *and* "
             "near-white; *total only*: the sum is, but one side is not.", "",
             "| sampler | method | near-black | near-white | \\|L_avg\\| > 0.8 | difference | reproduces the data |",
             "|---" * 7 + "|"]
    for s in samplers:
        for m in methods:
            rs = by.get((m, s))
            if not rs:
                continue
            n = rs[0]["n_test"]
            ok = {k: _consistent([r[k] for r in rs], ref[k], n)
                  for k in ("frac_black", "frac_white", "frac_extreme")}
            verdict = "**consistent**" if ok["frac_black"] and ok["frac_white"] else \
                "total only" if ok["frac_extreme"] else "no"
            f = [r["frac_extreme"] for r in rs]
            black, white = _cell([r["frac_black"] for r in rs]), _cell([r["frac_white"] for r in rs])
            lines.append(f"| {s} | {m} | {black} | {white} | {_cell(f)} | {_stats(f)[0] - ref['frac_extreme']:+.3g} | "
                         f"{verdict} |")
    lines += ["", "### 2. Does the proposed model beat base and offset noise on images?", "",
              "Proposed = its best σ_c, offset = w = 0.1 and its best w (best: lowest mean W1(L_avg) under the same "
              "sampler). Welch t-test over seeds, two-sided; verdict at 5 %: *better*, *worse* or *not resolved*. "
              "frac_error = |fraction with |L_avg| > 0.8 − data's|; digit_conf: higher is better, the rest lower. "
              "With 4 metrics × up to 4 comparisons per sampler, about one spurious *better*/*worse* at p < 0.05 is "
              "expected by chance: a lone p ≈ 0.04 is weak evidence." + _missing(by, methods, samplers), "",
              "| sampler | proposed | vs | metric | proposed | other | p | verdict |", "|---" * 8 + "|"]
    for s in samplers:
        prop = best_of("proposed-sc", by, s, methods)
        others = [m for m in ("base", "offset-w0.1", best_of("offset-w", by, s, methods), "zero-snr")
                  if m and (m, s) in by]
        if prop is None:
            continue
        for o in dict.fromkeys(others):
            for k in TESTED:
                a, b = [r[k] for r in by[(prop, s)]], [r[k] for r in by[(o, s)]]
                p, verdict = welch_verdict(a, b, k in HIGHER_IS_BETTER)
                lines.append(f"| {s} | {prop} | {o} | {k} | {_cell(a)} | {_cell(b)} | {p:.2g} | {verdict} |")
    return lines + [""]


def _missing(by, methods, samplers) -> str:
    """' Not run with `s`: m1, m2.' for every sampler that some method was not run with (sweep members)."""
    out = ""
    for s in samplers:
        absent = [m for m in methods if (m, s) not in by and not (s.startswith("stock-") and
                                                                   not m.startswith("proposed-"))]
        if absent:
            out += f" Not run with `{s}` (to fit the CPU budget), so not among its candidates: {', '.join(absent)}."
    return out


def _table(by, methods, s):
    lines = [f"## Sampler `{s}`", "", "| method | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    rows = [m for m in methods if (m, s) in by]
    best = {}
    for k in METRICS:
        if k in ("frac_black", "frac_white", "frac_extreme"):
            continue
        key = (lambda m: -_stats([r[k] for r in by[(m, s)]])[0]) if k in HIGHER_IS_BETTER else \
            (lambda m: _stats([r[k] for r in by[(m, s)]])[0])
        best[k] = min(rows, key=key) if rows else None
    for m in rows:
        lines.append(f"| {m} | " + " | ".join(_cell([r[k] for r in by[(m, s)]], best.get(k) == m) for k in METRICS)
                     + " |")
    return lines + [""]


def write_timings(out, records, profile) -> None:
    """timings.md: CPU and wall seconds of training and of every sampler, per (method, seed) run."""
    runs = {(r["method"], r["seed"]): r for r in records}
    total = sum(r["train_cpu_seconds"] for r in runs.values()) + sum(r["sample_cpu_seconds"] for r in records)
    lines = [f"# Run times: digits, profile `{profile}` (not byte-stable)", "",
             f"CPU seconds (process time) summed over runs: {total:.0f} s; per (method, seed) run below.", "",
             "| method | seed | train CPU s | train wall s | " + " | ".join(
                 f"{s} CPU s" for s in dict.fromkeys(r["sampler"] for r in records)) + " |", "|---" * 4 + "|---" *
             len(set(r["sampler"] for r in records)) + "|"]
    for (m, seed), r in sorted(runs.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1])):
        cells = [next((f"{x['sample_cpu_seconds']:.0f}" for x in records if x["method"] == m and x["seed"] == seed
                       and x["sampler"] == s), "–") for s in dict.fromkeys(x["sampler"] for x in records)]
        lines.append(f"| {m} | {seed} | {r['train_cpu_seconds']:.0f} | {r['train_seconds']:.0f} | "
                     + " | ".join(cells) + " |")
    write_text_atomic(out / "timings.md", "\n".join(lines) + "\n")


def _grid(ax, imgs, title):
    k = int(math.ceil(math.sqrt(len(imgs))))
    side = int(round(math.sqrt(len(imgs[0]))))
    canvas = np.full((k * (side + 1) - 1, k * (side + 1) - 1), np.nan)
    for i, im in enumerate(imgs):
        r, c = divmod(i, k)
        canvas[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = \
            np.asarray(im).reshape(side, side)
    cmap = plt.get_cmap("gray").with_extremes(bad="#5b7fb0")
    ax.imshow(canvas, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _figures(out, fd, records, methods, samplers, st) -> list[Path]:
    fig_dir = out / "figures"
    ref = I.make_images("test", size=st.get("size", 8))[0][: st["n_test"]]
    L = ref.flatten(1).mean(1)
    data_grid = ref[L.argsort()][:: max(1, len(ref) // 100)][:100].flatten(1).numpy()
    written, n_gen = [], st["n_generated"]
    for m in methods:
        keys = [s for s in samplers if f"{m}|{s}" in fd["grid"]]
        fig, axes = plt.subplots(1, len(keys) + 1, figsize=(3.2 * (len(keys) + 1), 3.6), squeeze=False)
        _grid(axes[0][0], data_grid, "held-out data")
        for ax, s in zip(axes[0][1:], keys):
            _grid(ax, fd["grid"][f"{m}|{s}"], f"{s} (seed 0)")
        fig.suptitle(f"{m}: {len(data_grid)} of {n_gen} samples (every {max(1, n_gen // 100)}th), sorted by "
                     "brightness (row-major)", fontsize=9)
        fig.tight_layout()
        save(fig, fig_dir / f"samples_{m}.png")
        written.append(fig_dir / f"samples_{m}.png")
    edges = np.linspace(-1, 1, 41)
    centers = (edges[:-1] + edges[1:]) / 2
    data_h = np.histogram(L.numpy(), bins=edges)[0] / len(L)
    fig, axes = plt.subplots(1, len(samplers), figsize=(5 * len(samplers), 4), squeeze=False)
    for ax, s in zip(axes[0], samplers):
        ax.bar(centers, data_h, width=edges[1] - edges[0], color="0.85", label="held-out data")
        for i, m in enumerate(methods):
            rs = [r for r in records if r["method"] == m and r["sampler"] == s]
            if rs:
                h = np.array(fd["hist_gen"][f"{m}|{s}"], dtype=float)
                ax.step(centers, h / h.sum(), where="mid", color=plt.cm.tab10(i % 10), label=f"{m} ({len(rs)} seeds)")
        for x in (-I.EXTREME, I.EXTREME):
            ax.axvline(x, color="k", ls=":", lw=0.8)
        ax.set_title(f"sampler {s}", fontsize=9)
        ax.set_xlabel("L_avg (average brightness)")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("fraction of images")
    fig.suptitle("Brightness of generated images vs held-out data (dotted: |L_avg| = 0.8)")
    fig.tight_layout()
    save(fig, fig_dir / "brightness_hist.png")
    written.append(fig_dir / "brightness_hist.png")
    prune(fig_dir, written)
    return written
