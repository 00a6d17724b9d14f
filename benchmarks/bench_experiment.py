"""Training and sampling throughput per method, measured in one run (interleaved repeats).

Training: steps/s of Adam on batch 256 with the experiment's MLP.  Sampling: samples/s for a full
T = 1000 ancestral chain.  Prints the ratio proposed/base (target: proposed not slower by > 10 %).

Usage: python benchmarks/bench_experiment.py [--n 32] [--device cpu|cuda] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gendiff.experiments.data import make_split
from gendiff.experiments.runner import build_method
from gendiff.experiments.models import MLPDenoiser
from gendiff.samplers import ancestral
from gendiff.experiments.train import train

METHODS = ("base", "offset-w0.1", "proposed-sc1", "zero-snr")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    data = make_split("cylinder", a.n, "train", 4000)
    tr, sa = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    for _ in range(a.repeats):
        for m in METHODS:
            meth = build_method(m, 1000)
            torch.manual_seed(0)
            model = MLPDenoiser(a.n).to(dev)
            sync()
            t0 = time.perf_counter()
            train(model, meth, data, steps=a.steps, batch=256, device=dev, progress=False)
            sync()
            tr[m].append(a.steps / (time.perf_counter() - t0))
            gen = torch.Generator(device=dev).manual_seed(0)
            t0 = time.perf_counter()
            with torch.no_grad():
                ancestral(model, (a.samples, a.n), meth.tables, meth.xi_start, pred="v", generator=gen, device=dev)
            sync()
            sa[m].append(a.samples / (time.perf_counter() - t0))
    print(f"n = {a.n}, device {dev}, threads {a.threads}, median of {a.repeats} interleaved repeats")
    print(f"{'method':<14} {'train steps/s':>14} {'samples/s (T=1000)':>20}")
    for m in METHODS:
        print(f"{m:<14} {statistics.median(tr[m]):>14.1f} {statistics.median(sa[m]):>20.1f}")
    rt = statistics.median(tr["base"]) / statistics.median(tr["proposed-sc1"])
    rs = statistics.median(sa["base"]) / statistics.median(sa["proposed-sc1"])
    print(f"time ratio proposed/base: training {rt:.3f}, sampling {rs:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
