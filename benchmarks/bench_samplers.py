"""Benchmark (prints figures measured in one run; not a test): generalized DDIM against the ancestral sampler.

1. Wall time of ddim-50 against ancestral-1000 with the experiment's MLP (gendiff.experiments.models.MLPDenoiser,
   n = 32, 2000 samples, float32; untrained weights, as the cost of a call does not depend on them): the ratio of
   the medians over interleaved repeats.
2. Quality with the exact EmpiricalOracle (the optimal denoiser of 1000 cylinder training points, ξ marginalised)
   for proposed-sc1 with v-prediction, T = 1000, float64: W1(L_avg) of 2000 samples against 2000 held-out
   points, mean ± sd over seeds, for ancestral-1000, ddim-10/20/50/100, ddim-50 with η = 1 and stock-ddim-50
   (stock_update=True: ξ̂ = 0).  The floor is W1(L_avg) between two held-out sets of the same size.
   Issue 9's criterion: ddim-50 within 1.5× of ancestral-1000, stock-ddim-50 at least 5× worse.

Usage: python benchmarks/bench_samplers.py [--quick] [--device cpu|cuda] [--threads 1] [--seeds 3]
--quick: 500 samples, one seed, 3 timing repeats (minutes less; figures noisier).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gendiff.experiments.data import make_split
from gendiff.experiments.metrics import w1_brightness
from gendiff.experiments.models import MLPDenoiser
from gendiff.experiments.oracle import EmpiricalOracle
from gendiff.experiments.runner import build_method
from gendiff.samplers import ancestral, ddim

N_DIM, T, METHOD, PRED, N_TRAIN = 32, 1000, "proposed-sc1", "v", 1000
# name -> (sampler, keyword arguments)
SAMPLERS = {
    "ancestral-1000": (ancestral, {}),
    "ddim-10": (ddim, dict(steps=10)),
    "ddim-20": (ddim, dict(steps=20)),
    "ddim-50": (ddim, dict(steps=50)),
    "ddim-100": (ddim, dict(steps=100)),
    "ddim-50 (η = 1)": (ddim, dict(steps=50, eta=1.0)),
    "stock-ddim-50": (ddim, dict(steps=50, stock_update=True)),
}


def timing(method, samples, repeats, dev, sync):
    """Median wall seconds of ancestral-1000 and ddim-50 with one untrained MLP, interleaved repeats."""
    torch.manual_seed(0)
    model = MLPDenoiser(N_DIM).to(dev).eval()
    runs = {"ancestral-1000": [], "ddim-50": []}
    for r in range(repeats + 1):                    # the first round warms up and is not counted
        for name in runs:
            sampler, kw = SAMPLERS[name]
            gen = torch.Generator(device=dev).manual_seed(r)
            sync()
            t0 = time.perf_counter()
            with torch.no_grad():
                sampler(model, (samples, N_DIM), method.tables, method.xi_start, pred=PRED, generator=gen,
                        device=dev, **kw)
            sync()
            if r:
                runs[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in runs.items()}


def quality(method, samples, seeds, dev, sync):
    """{sampler: ([W1(L_avg) per seed], seconds per seed)} with the exact oracle, and the held-out floor."""
    train_x = make_split("cylinder", N_DIM, "train", N_TRAIN)
    test_x = make_split("cylinder", N_DIM, "test", samples)
    floor = w1_brightness(make_split("cylinder", N_DIM, "val", samples), test_x)
    tables = method.tables.to(dev)
    oracle = EmpiricalOracle(train_x, tables, sigma_c=method.xi_train.sigma_c, pred=PRED).to(dev)
    out = {}
    for name, (sampler, kw) in SAMPLERS.items():
        w, secs = [], []
        for seed in range(seeds):
            gen = torch.Generator(device=dev).manual_seed(10_000 + seed)
            sync()
            t0 = time.perf_counter()
            x = sampler(oracle, (samples, N_DIM), tables, method.xi_start, pred=PRED, generator=gen, device=dev,
                        dtype=torch.float64, **kw)
            sync()
            secs.append(time.perf_counter() - t0)
            x = x.cpu()
            if not torch.isfinite(x).all():
                raise FloatingPointError(f"{name}, seed {seed}: non-finite samples")
            w.append(w1_brightness(x, test_x))
        out[name] = (w, statistics.median(secs))
        print(f"  {name:<16} W1(L_avg) {fmt(w)}   ({statistics.median(secs):.1f} s per run)", flush=True)
    return out, floor


def fmt(v):
    m = statistics.fmean(v)
    return f"{m:.4f} ± {statistics.stdev(v):.4f}" if len(v) > 1 else f"{m:.4f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seeds", type=int, default=None, help="quality seeds (default 3, --quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="timing repeats (default 5, --quick 3)")
    a = p.parse_args()
    samples = 500 if a.quick else 2000
    seeds = a.seeds or (1 if a.quick else 3)
    repeats = a.repeats or (3 if a.quick else 5)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    method = build_method(METHOD, T)

    print(f"1. wall time, MLPDenoiser(n = {N_DIM}), {2000} samples, float32, device {dev}, threads {a.threads}, "
          f"median of {repeats} interleaved repeats")
    tm = timing(method, 2000, repeats, dev, sync)
    for k, v in tm.items():
        print(f"  {k:<16} {v:8.3f} s")
    print(f"  ancestral-1000 / ddim-50 = {tm['ancestral-1000'] / tm['ddim-50']:.1f}×")

    print(f"\n2. W1(L_avg), exact EmpiricalOracle ({N_TRAIN} cylinder points), {METHOD}, pred {PRED}, n = {N_DIM}, "
          f"T = {T}, {samples} samples vs {samples} held-out, {seeds} seed(s), float64, device {dev}")
    q, floor = quality(method, samples, seeds, dev, sync)
    print(f"  floor: W1(L_avg) of two held-out sets of {samples}: {floor:.4f}")
    anc = statistics.fmean(q["ancestral-1000"][0])
    print("\n| sampler | network calls | W1(L_avg) | × ancestral-1000 |\n|---|---|---|---|")
    for name, (w, _) in q.items():
        calls = 1000 if name.startswith("ancestral") else SAMPLERS[name][1]["steps"]
        print(f"| {name} | {calls} | {fmt(w)} | {statistics.fmean(w) / anc:.2f} |")
    r50, rstock = statistics.fmean(q["ddim-50"][0]) / anc, statistics.fmean(q["stock-ddim-50"][0]) / anc
    print(f"\ncriterion: ddim-50 / ancestral-1000 = {r50:.2f} (≤ 1.5: {'yes' if r50 <= 1.5 else 'NO'}); "
          f"stock-ddim-50 / ancestral-1000 = {rstock:.1f} (≥ 5: {'yes' if rstock >= 5 else 'NO'})")


if __name__ == "__main__":
    main()
