"""The regime experiment's folder: results.json from the runs, results.md and the regime figure from it alone.

`write_outputs` flattens the run records (`regime_run`) into results.json (byte-stable: metric values carry
METRIC_DIGITS significant digits; no timings) and calls `render`, which `gendiff report` also calls for the
committed folder.  The predictor columns and curves are :func:`gendiff.regime.predict` for Gaussian data with
the data set's exact Var(L_avg(x_0)), recomputed in float64 from the tables at render time [result
'start_mismatch'].  For the gaussian data (L_avg Gaussian, mean preserved by the exact conditional means) the
predicted W1(L_avg) = √(2V/π)·|√ρ - 1| and frac_extreme = P(|N(m, ρV)| > 0.8) follow from the predicted ratio ρ.

Layer: experiments — imports gendiff core and other experiments modules; never gendiff.cli.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from ..io import write_text_atomic
from ..methods import method_from_spec
from ..regime import predict
from ..schedules import make_beta
from ..starts import SignalLeak
from .metrics import METRIC_DIGITS, significant
from .runfiles import timing_lines

METRICS = ("var_ratio", "w1_brightness", "frac_extreme", "frac_extreme_data", "mmd", "w1")
TITLES = {"var_ratio": "Var_gen/Var_data of L_avg", "w1_brightness": "W1(L_avg)", "frac_extreme": "frac_extreme",
          "mmd": "MMD²", "w1": "W1 in R^n"}
CELL = ("dataset", "schedule", "n", "r", "data_var", "T", "n_generated", "n_test", "n_train", "steps")
SCHEDULE_MARKERS = {"linear": "o", "scaled_linear": "s", "cosine": "^"}
MEAN = {"cylinder": 0.0, "gaussian": 0.5}       # E L_avg(x_0) (data.gaussian_params: μ = 0.5·1)


def write_outputs(out: Path, records: list[dict], *, profile: str, prof) -> None:
    out = Path(out)
    flat = []
    for r in sorted(records, key=lambda r: (r["dataset"], r["schedule"], r["n"], r["method"], r["seed"])):
        for name in sorted(r["samplers"]):
            for k in METRICS:
                flat.append({**{c: r[c] for c in CELL}, "method": r["method"], "seed": r["seed"], "sampler": name,
                             "metric": k, "value": significant(r["samplers"][name][k])})
    settings = {"dataset": "regime", "profile": profile, "datasets": list(prof.datasets),
                "schedules": list(prof.schedules), "dims": sorted({r["n"] for r in records}),
                "methods": list(prof.methods), "seeds": prof.seeds, "T": prof.T, "n_generated": prof.n_gen,
                "n_test": max(r["n_test"] for r in records), "n_train": prof.n_train, "steps": prof.steps,
                "samplers": sorted({s for r in records for s in r["samplers"]}), "prediction": "v",
                "devices": sorted({r["device"] for r in records}), "metric_digits": METRIC_DIGITS}
    write_text_atomic(out / "results.json", json.dumps({"settings": settings, "records": flat}, indent=1,
                                                       sort_keys=True, allow_nan=False) + "\n")
    render(out)


def cells(data: dict) -> dict:
    """{(dataset, schedule, n, method, sampler): {metric: [values over seeds]}} plus r per (dataset, schedule, n)."""
    out, r = {}, {}
    for rec in data["records"]:
        key = (rec["dataset"], rec["schedule"], rec["n"], rec["method"], rec["sampler"])
        out.setdefault(key, {}).setdefault(rec["metric"], []).append(rec["value"])
        r[key[:3]] = (rec["r"], rec["data_var"])
    return out, r


def predicted(dataset, schedule, n, method, sampler, T, var) -> dict:
    """gendiff.regime.predict for the method (oracle- prefix dropped) on the cell's schedule and Var(L_avg)."""
    spec = method[7:] if method.startswith("oracle-") else method
    leak = SignalLeak(mean=[MEAN[dataset]], var=[var]) if spec == "base-signal-leak" else None
    m = method_from_spec(spec, make_beta(schedule, T), leak=leak)
    p = predict(m, sampler, n=n, data_var=var)
    rho, mu = p["var_ratio"], MEAN[dataset]
    sd = math.sqrt(rho * var)
    frac = 0.5 * (math.erfc((0.8 - mu) / (sd * math.sqrt(2))) + math.erfc((0.8 + mu) / (sd * math.sqrt(2))))
    return {"var_ratio": rho, "w1_brightness": math.sqrt(2 * var / math.pi) * abs(math.sqrt(rho) - 1),
            "frac_extreme": frac}


def oracle_cells(out: Path, st: dict) -> dict:
    """For trained profiles: the exact-oracle cells of the committed `regime` folder beside `out`
    (reports/experiments/regime/results.json), drawn hollow in the figure; {} for oracle profiles or without it."""
    src = out.parent / "regime" / "results.json"
    if any(m.startswith("oracle-") for m in st["methods"]) or not src.exists():
        return {}
    return cells(json.loads(src.read_text()))[0]


def _ms(v) -> str:
    return f"{statistics.fmean(v):.3g} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2g}"


def render(out: Path) -> list[Path]:
    out = Path(out)
    data = json.loads((out / "results.json").read_text())
    st = data["settings"]
    by, rs = cells(data)
    preds = {}
    for (d, sch, n, m, s) in by:
        preds[(d, sch, n, m, s)] = predicted(d, sch, n, m, s, st["T"], rs[(d, sch, n)][1])
    (out / "figures").mkdir(parents=True, exist_ok=True)
    from .regime_figure import draw
    written = draw(out, st, by, rs, preds, oracle=oracle_cells(out, st))
    for stale in sorted(set((out / "figures").glob("*.png")) - set(written)):
        stale.unlink()
    write_text_atomic(out / "results.md", "\n".join(markdown(out, st, by, rs, preds)) + "\n")
    return written


def _rows(st) -> str:
    """What the rows are: exact oracles (seeds: sampling seeds) or trained MLPs (seeds: training and sampling)."""
    if all(m.startswith("oracle-") for m in st["methods"]):
        return ("`oracle-<method>` rows sample with the exact optimal denoiser of the method's training law "
                f"(cylinder: of the empirical training set of {st['n_train']} points; gaussian: of the Gaussian "
                "itself, closed form); seeds are sampling seeds.")
    return (f"Rows are MLPs trained per (method, seed) on {st['n_train']} points (seeds seed the weights, the "
            "training and the sampler alike); the figure draws the exact-oracle rows of the same cells "
            "(`reports/experiments/regime`) hollow beside them.")


def markdown(out, st, by, rs, preds) -> list[str]:
    methods = st["methods"]
    lines = [f"# Experiment: regime, profile `{st['profile']}`", "",
             f"Generated by `gendiff experiment regime --profile {st['profile']}`. Data sets "
             f"{', '.join(st['datasets'])}; schedules {', '.join(st['schedules'])}; n = "
             f"{', '.join(map(str, st['dims']))}; T = {st['T']}; v-prediction. " + _rows(st) + " Each cell: mean ± "
             f"sd over {st['seeds']} seeds, {st['n_generated']} samples vs {st['n_test']} held-out data. "
             "r = n·ᾱ_T·Var(L_avg(x_0))/σ_0² of the cell's schedule (before zero-SNR rescaling) and the data's exact "
             "Var(L_avg(x_0)). `base-signal-leak` starts from SignalLeak.fit(training set). In brackets: the "
             "prediction of `gendiff brightness-check` (gendiff.regime.predict, Gaussian data with that variance; "
             "result 'start_mismatch'). Var ratio = Var_gen(L_avg)/Var(L_avg(x_0)); frac_extreme = "
             "P(|L_avg| > 0.8)." + f" Metric values are rounded to {st['metric_digits']} significant digits.", "",
             f"Device: {', '.join(st['devices'])}.", ""] + timing_lines(out)
    for d in st["datasets"]:
        for s in st["samplers"]:
            keys = sorted({(sch, n) for (dd, sch, n, m, ss) in by if dd == d and ss == s},
                          key=lambda k: (st["schedules"].index(k[0]), k[1]))
            if not keys:
                continue
            for k in ("var_ratio", "w1_brightness", "frac_extreme", "mmd"):
                head = f"## {d}, {s}: {TITLES[k]}"
                extra = " | data |" if k == "frac_extreme" else " |"
                lines += [head, "", "| schedule | n | r | " + " | ".join(methods) + extra,
                          "|---" * (len(methods) + 3 + (k == "frac_extreme")) + "|"]
                for sch, n in keys:
                    row = []
                    for m in methods:
                        v = by.get((d, sch, n, m, s), {}).get(k)
                        txt = _ms(v) if v else "–"
                        if v and k in ("var_ratio", "w1_brightness", "frac_extreme") and (
                                k == "var_ratio" or d == "gaussian"):
                            txt += f" ({preds[(d, sch, n, m, s)][k]:.3g})"
                        row.append(txt)
                    if k == "frac_extreme":
                        fd = [x for m in methods for x in by.get((d, sch, n, m, s), {}).get("frac_extreme_data", [])]
                        row.append(f"{statistics.fmean(fd):.3g}" if fd else "–")
                    lines.append(f"| {sch} | {n} | {rs[(d, sch, n)][0]:.3g} | " + " | ".join(row) + " |")
                lines.append("")
    return lines + ["![regime](figures/" + f"regime-{st['samplers'][0]}.png)" if st["samplers"] else "", ""]
