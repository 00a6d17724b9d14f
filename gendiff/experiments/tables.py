"""What the results writer (`results`) shares between the kinds of data: statistics over seeds, Welch verdicts,
per-sampler records, grouping, the provenance lines of results.md, JSON files and figure clean-up.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from ..io import write_text_atomic
from . import sampling
from .runfiles import timing_lines


def stats(vals):
    """(mean, sd) over seeds; sd 0 for a single value."""
    m = statistics.fmean(vals)
    return m, statistics.stdev(vals) if len(vals) > 1 else 0.0


def welch_p(a, b) -> float:
    """Two-sided Welch t-test p over seeds (nan below 2 values a side; 1 where both sides are constant)."""
    import warnings

    from scipy.stats import ttest_ind
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # identical values: p is nan, read as 1
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else 1.0


def welch_verdict(new, other, higher_is_better: bool = False) -> tuple[float, str]:
    """(p, verdict) of `new` against `other` over seeds: *better* / *worse* at the 5 % level, else *not resolved*."""
    p = welch_p(new, other)
    better = statistics.fmean(new) > statistics.fmean(other) if higher_is_better else \
        statistics.fmean(new) < statistics.fmean(other)
    return p, "not resolved" if not p < 0.05 else ("better" if better else "worse")


def cell(vals, bold: bool = False, digits: int = 3) -> str:
    """'mean ± sd (count)' over seeds, in bold for the best."""
    m, sd = stats(vals)
    txt = f"{m:.{digits}g} ± {sd:.2g} ({len(vals)})"
    return f"**{txt}**" if bold else txt


def per_sampler(records):
    """(job record, sampler, its scores) for every sampler of every record: a vector job holds its samplers under
    'samplers' (runs from before the sampler axis: ancestral-T only, in the record itself); an image record is
    one sampler's."""
    for r in records:
        scores = r.get("samplers") or {r.get("sampler", f"ancestral-{r['T']}"): r}
        for name in sorted(scores, key=sampling.order):
            yield r, name, scores[name]


def group(rows, *keys) -> dict:
    """{(row[k] for k in keys): [rows]} in the rows' order."""
    by = {}
    for r in rows:
        by.setdefault(tuple(r[k] for k in keys), []).append(r)
    return by


def provenance(out: Path, st: dict) -> list[str]:
    """results.md lines: the devices, then the command that produced the folder and its measured times."""
    return [f"Device: {', '.join(st['devices'])}.", ""] + timing_lines(out)


def write_json(path: Path, obj, *, compact: bool = False) -> None:
    """Byte-stable JSON (sorted keys; results.json indented, figure_data.json compact); NaN refused."""
    kw = dict(separators=(",", ":")) if compact else dict(indent=1)
    write_text_atomic(path, json.dumps(obj, sort_keys=True, allow_nan=False, **kw) + "\n")


def prune(fig_dir: Path, written) -> None:
    """Remove the figures of an earlier run that this one did not write."""
    for stale in sorted(set(Path(fig_dir).glob("*.png")) - set(written)):
        stale.unlink()
