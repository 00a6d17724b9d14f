"""The sampler axis of `gendiff experiment`: named samplers, their scores, and their table and figure.

Names (CONVENTIONS.md): `ancestral-<T>` (the DDPM chain), `ddim-<k>` (generalized DDIM at its defaults: η = 0,
trailing spacing, the whitened jump where q(ξ) has structure [result 'jump_variance'], else ξ̂ = E[ξ | x_t]), `stock-ddim-<k>` (the same with ξ̂ = 0: the update of a
stock DDIM scheduler, run only to measure it), `dpm2m-<k>` (DPM-Solver++(2M) at its defaults [result 'dpm_solver']).  Every sampler of a run starts from the same x_T (one seed).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import statistics
import time

import torch

from ..regime import parse_sampler
from ..samplers import ancestral, ddim, dpm_solver_2m
from .metrics import brightness, mmd, significant, w1, w1_brightness

HIST_BINS = torch.linspace(-2.5, 2.5, 51)


def parse(name: str, T: int) -> tuple[str, int]:
    """('ancestral' | 'ddim' | 'stock-ddim' | 'dpm2m', steps); ValueError (InputError) for a malformed name or
    steps outside 1..T.  The one grammar of sampler names is :func:`gendiff.regime.parse_sampler`."""
    return parse_sampler(name, T)


def draw(name: str, model, method, shape, *, pred: str, device, dtype, seed: int = 0, generator=None,
         chunk: int | None = None, progress=False):
    """Samples of `method` with sampler `name`, started from x_T drawn by `method.start` (the prior, or e.g. a
    SignalLeak) with `generator` (default: one seeded 10 000 + seed), in calls of `chunk` rows (default: all at
    once), one generator throughout."""
    kind, steps = parse(name, method.tables.T)
    gen = generator if generator is not None else torch.Generator(device=device).manual_seed(10_000 + seed)
    kw = dict(pred=pred, generator=gen, device=device, dtype=dtype, progress=progress,
              start=getattr(method, "start", "prior"))         # the method's start (prior or e.g. SignalLeak)
    out = []
    for i in range(0, shape[0], chunk or shape[0]):
        part = (min(chunk or shape[0], shape[0] - i),) + tuple(shape[1:])
        with torch.no_grad():
            if kind == "ancestral":
                out.append(ancestral(model, part, method.tables, method.xi_start, **kw))
            elif kind == "dpm2m":
                out.append(dpm_solver_2m(model, part, method.tables, method.xi_start, steps=steps, **kw))
            else:
                out.append(ddim(model, part, method.tables, method.xi_start, steps=steps,
                                stock_update=kind == "stock-ddim", **kw))
    return out[0] if len(out) == 1 else torch.cat(out)


def histogram(x: torch.Tensor) -> list[float]:
    return torch.histogram(brightness(x).clamp(-2.5, 2.5), bins=HIST_BINS.double()).hist.tolist()


def score(x: torch.Tensor, ref: torch.Tensor, what: str) -> dict:
    """Metrics of samples x against held-out ref (rounded to significant digits); refuses non-finite samples."""
    x = x.double().cpu()
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"{what}: sampler produced non-finite values")
    m2, bw = mmd(x, ref)
    return {"w1_brightness": significant(w1_brightness(x, ref)), "w1": significant(w1(x, ref)),
            "mmd": significant(m2), "mmd_bandwidth": significant(bw), "hist_gen": histogram(x)}


def sample_and_score(names, model, method, ref, *, n_gen: int, pred: str, seed: int, device, dtype, what: str,
                     progress=False) -> dict:
    """{sampler name: scores + sample_seconds} for each name."""
    out = {}
    for name in names:
        t0 = time.perf_counter()
        x = draw(name, model, method, (n_gen, ref.shape[1]), pred=pred, seed=seed, device=device, dtype=dtype,
                 progress=progress)
        out[name] = {**score(x, ref, f"{what} {name}"), "sample_seconds": round(time.perf_counter() - t0, 2)}
    return out


def steps_of(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def order(name: str) -> tuple:
    """Sort key: ancestral first, then DDIM by steps, then stock DDIM by steps."""
    return name.startswith("stock"), not name.startswith("ancestral"), steps_of(name)


def table(records: list[dict], metrics, dims) -> list[str]:
    """results.md section: each metric by (method, sampler) and n, mean ± sd over seeds."""
    by = {}
    for r in records:
        for name, sc in r.get("samplers", {}).items():
            by.setdefault((r["method"], name, r["n"]), []).append(sc)
    if not by:
        return []
    rows = sorted({(m, s) for m, s, _ in by}, key=lambda ms: (ms[0].startswith("oracle-"), ms[0], order(ms[1])))
    lines = ["", "## Samplers", "",
             "Every trained model (and oracle) sampled again from the same x_T with each sampler: `ancestral-T` "
             "(the tables above), `ddim-k` (generalized DDIM, η = 0, trailing spacing, ξ̂ = E[ξ | x_t]) and "
             "`stock-ddim-k` (ξ̂ = 0, the update a stock DDIM scheduler applies). Mean ± sd over seeds (count).", ""]
    for k in metrics:
        lines += [f"### {k} by sampler", "", "| method | sampler | " + " | ".join(f"n = {n}" for n in dims) + " |",
                  "|---" * (len(dims) + 2) + "|"]
        for m, s in rows:
            cells = []
            for n in dims:
                v = [sc[k] for sc in by.get((m, s, n), [])]
                cells.append(f"{statistics.fmean(v):.4g} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2g} "
                             f"({len(v)})" if v else "–")
            lines.append(f"| {m} | {s} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def figure(records: list[dict], dims, style, path, save) -> None:
    """W1(L_avg) against the number of sampler steps per method, for the smallest and the largest n."""
    import matplotlib.pyplot as plt
    ns = sorted({dims[0], dims[-1]})
    fig, axes = plt.subplots(1, len(ns), figsize=(6.5 * len(ns), 4.2), squeeze=False)
    for ax, n in zip(axes[0], ns):
        per = {}
        for r in records:
            if r["n"] == n:
                for name, sc in r.get("samplers", {}).items():
                    per.setdefault((r["method"], name.rsplit("-", 1)[0]), {}).setdefault(
                        steps_of(name), []).append(sc["w1_brightness"])
        for (m, kind), pts in sorted(per.items()):
            xs = sorted(pts)
            ys = [statistics.fmean(pts[x]) for x in xs]
            st = style(m)
            mk = {"ancestral": "s", "ddim": "o", "stock-ddim": "x", "dpm2m": "^"}[kind]
            ax.plot(xs, ys, marker=mk, color=st["color"], ls=":" if kind == "stock-ddim" else st["ls"],
                    lw=st["lw"], label=f"{m}, {kind}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("network evaluations (sampler steps)")
        ax.set_ylabel("W1(L_avg), mean over seeds (log)")
        ax.set_title(f"n = {n}: brightness error by sampler and steps")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save(fig, path)
