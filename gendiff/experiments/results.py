"""The results writer of every experiment folder: results.json from the runs, results.md and figures from it.

`write_outputs` turns the job records of any spec into results.json (flat, byte-stable: metric values carry
METRIC_DIGITS significant digits, settings are those of the runs aggregated, no timings) and figure_data.json,
then calls `render`.  `render(out)` rebuilds results.md and the figures from those files alone, which is what
`gendiff report` does for every committed folder.  The tables and figures are chosen by the kind of data
(`spec.Spec.kind`): vector data (cylinder, gaussian) below and in `vector_figures`, images (digits) in
`image_results`, the regime profile (exact oracles across schedules) in `regime_results`; what they share
(Welch verdicts, per-sampler records, provenance lines, JSON files, figure clean-up) is `tables`.  Figures of
an earlier run that this one does not make are removed (except in vector folders without figure_data.json,
whose histogram and loss figures cannot be redrawn and are kept).

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..io import write_text_atomic
from . import image_results, sampling
from .metrics import METRIC_DIGITS, significant
from .spec import SPECS
from .tables import cell, group, per_sampler, provenance, prune, stats, welch_verdict, write_json
from .vector_figures import METRICS, draw, figure_data
RUN_KEYS = ("method", "n", "seed", "n_generated", "n_test", "steps", "batch", "T", "n_train", "pred", "schedule")


def settings_of(records: list[dict], *, dataset: str, profile: str, prof) -> dict:
    """What actually ran: dims, seeds per method and devices from the records; the rest from the profile."""
    seeds = {}
    for r in records:
        seeds.setdefault(r["method"], set()).add(r["seed"])
    return {"dataset": dataset, "profile": profile, "schedule": records[0].get("schedule", "linear"),
            "dims": sorted({r["n"] for r in records}),
            "methods": sorted(seeds, key=lambda m: (m.startswith("oracle-"), m)),
            "seeds": max((len(v) for v in seeds.values()), default=0),
            "seeds_per_method": {m: len(v) for m, v in sorted(seeds.items())},
            "devices": sorted({r.get("device", "unrecorded") for r in records}),
            "steps": prof.steps, "batch": prof.batch, "T": prof.T, "optimizer": "Adam lr=1e-3, clip 1",
            "model": "MLP, width min(256, max(128, 4n)), 3 layers, sinusoidal time embedding", "prediction": "v",
            "metric_digits": METRIC_DIGITS}


def write_outputs(out: Path, records: list[dict], *, dataset: str, profile: str, prof, device=None) -> None:
    """results.json and figure_data.json of folder `out` from the job records (of `runner.run_one`), by the kind
    of data, then results.md and the figures (`render`)."""
    out = Path(out)
    records = [{"schedule": "linear", **r} for r in records]       # runs from before the schedule axis
    kind = image_results if SPECS[dataset].kind == "image" else None
    aggregate = kind.aggregate if kind else _aggregate
    results, fig = aggregate(records, dataset=dataset, profile=profile, prof=prof, device=device)
    write_json(out / "results.json", results)
    write_json(out / "figure_data.json", fig, compact=True)
    if kind:
        kind.write_timings(out, records, profile)
    render(out)


def _aggregate(records, *, dataset, profile, prof, device=None):
    records = sorted(records, key=lambda r: (r["n"], r["method"], r["seed"]))
    flat = [{"method": r["method"], "sampler": name, "n": r["n"], "seed": r["seed"], "metric": k,
             "value": significant(sc[k]), **{key: r[key] for key in RUN_KEYS[3:]},
             **({"mmd_bandwidth": significant(sc["mmd_bandwidth"])} if k == "mmd" else {})}
            for r, name, sc in per_sampler(records) for k in METRICS]
    settings = settings_of(records, dataset=dataset, profile=profile, prof=prof)
    return {"settings": settings, "records": flat}, figure_data(records, settings["dims"])


def runs_of(data: dict) -> list[dict]:
    """One record per (method, n, seed) from results.json's flat records; metrics of the ancestral sampler."""
    runs = {}
    for r in data["records"]:
        run = runs.setdefault((r["n"], r["method"], r["seed"]), {k: r[k] for k in RUN_KEYS if k in r})
        target = run.setdefault("samplers", {}).setdefault(r["sampler"], {}) if "sampler" in r else run
        target[r["metric"]] = r["value"]
        if "mmd_bandwidth" in r:
            target["mmd_bandwidth"] = r["mmd_bandwidth"]
    for run in runs.values():
        if "samplers" in run:
            run.update(run["samplers"][f"ancestral-{run['T']}"])
    return [runs[k] for k in sorted(runs)]


def render(out: Path) -> list[Path]:
    """results.md and figures of folder `out` from its results.json (and figure_data.json), by the kind of data;
    returns the figures."""
    out = Path(out)
    data = json.loads((out / "results.json").read_text())
    if data["settings"]["dataset"] == image_results.DATASET:
        return image_results.render(out, data)
    if data["settings"]["dataset"] == "regime":             # exact oracles across schedules and n
        from . import regime_results
        return regime_results.render(out)
    st, runs = data["settings"], runs_of(data)
    methods = st.get("methods") or sorted({r["method"] for r in runs}, key=lambda m: (m.startswith("oracle-"), m))
    fd = out / "figure_data.json"
    fig = json.loads(fd.read_text()) if fd.exists() else None
    (out / "figures").mkdir(parents=True, exist_ok=True)
    written = draw(out, runs, methods, st["dims"], fig)
    if fig is not None:
        prune(out / "figures", written)
    write_text_atomic(out / "results.md", "\n".join(markdown(out, st, runs, methods)) + "\n")
    return written


def markdown(out: Path, st: dict, runs: list[dict], methods: list[str]) -> list[str]:
    dataset, profile, dims, r0 = st["dataset"], st["profile"], st["dims"], runs[0]
    by = group(runs, "method", "n")
    sampled = any("samplers" in r for r in runs)
    lines = [f"# Experiment: {dataset}, profile `{profile}`", "",
             f"Generated by `gendiff experiment {dataset} --profile {profile}`. Each cell: mean ± sd over seeds "
             f"(count in brackets), {r0['n_generated']} generated vs {r0['n_test']} held-out samples, T = {st['T']}, "
             f"v-prediction, {st['steps']} Adam steps (lr 1e-3, clip 1), batch {st['batch']}. Lower is better; the "
             "best trained method per row is in bold. `oracle-*` rows sample with the exact optimal denoiser of the "
             "empirical training set (ablation: what the model family can represent). W1 in R^n is exact OT "
             "(assignment problem, scipy linear_sum_assignment); MMD² is unbiased with a Gaussian kernel whose "
             "bandwidth (median heuristic) is listed per n."
             + (f" Metric values are rounded to {st['metric_digits']} significant digits before averaging."
                if "metric_digits" in st else "")
             + (f" The tables up to the claim use the ancestral sampler (ancestral-{st['T']}); the section "
                "*Samplers* compares few-step samplers." if sampled else "")
             + (f" Schedule: {st['schedule']}." if st.get("schedule", "linear") != "linear" else ""),
             ""] + provenance(out, st)
    for k in METRICS:
        lines += [f"## {k}", "", "| n | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for n in dims:
            cells = {m: stats([r[k] for r in by[(m, n)]]) for m in methods if (m, n) in by}
            trained = {m: v for m, v in cells.items() if not m.startswith("oracle-")}
            best = min(trained, key=lambda m: trained[m][0]) if trained else None
            row = [cell([r[k] for r in by[(m, n)]], m == best, digits=4) if m in cells else "–" for m in methods]
            lines.append(f"| {n} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["## MMD bandwidths (median heuristic)", "", "| n | " + " | ".join(methods) + " |",
              "|---" * (len(methods) + 1) + "|"]
    for n in dims:
        lines.append(f"| {n} | " + " | ".join(
            f"{statistics.fmean(r['mmd_bandwidth'] for r in by[(m, n)]):.3g}" if (m, n) in by else "–"
            for m in methods) + " |")
    return lines + _claim_section(by, dims) + sampling.table(runs, METRICS, dims)


def _claim_section(by, dims, proposed="proposed-sc1", base="base") -> list[str]:
    """The paper's claim, per n: `proposed` beats `base` (Welch t-test over seeds, two-sided, 5 %)."""
    lines = ["", f"## The paper's claim: `{proposed}` vs `{base}`", "",
             f"Difference of means ({base} − {proposed}; positive: {proposed} is better), Welch t-test over seeds "
             "(two-sided). Verdict at the 5 % level: *better*, *worse*, or *not resolved*.", "",
             "| n | metric | " + base + " | " + proposed + " | difference | p | verdict |", "|---" * 7 + "|"]
    header = len(lines)
    for n in dims:
        a, b = by.get((base, n), []), by.get((proposed, n), [])
        if len(a) < 2 or len(b) < 2:
            continue
        for k in METRICS:
            va, vb = [r[k] for r in a], [r[k] for r in b]
            (ma, sa), (mb, sb) = stats(va), stats(vb)
            p, verdict = welch_verdict(vb, va)
            lines.append(f"| {n} | {k} | {ma:.4g} ± {sa:.2g} | {mb:.4g} ± {sb:.2g} | {ma - mb:+.3g} | {p:.2g} | "
                         f"{verdict} |")
    return lines if len(lines) > header else []
