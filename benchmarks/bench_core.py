"""Benchmark (prints ratios measured in one run; not a test).

1. Building all tables for T = 1000: vectorised `build_tables` vs a step-by-step recursion written
   the way the paper's Algorithm 1 is (a Python loop over t for γ, c, ψ, ϕ, λ and the posterior).
2. One training-loss evaluation (forward + backward) for `proposed` vs `base` on a 4096 × 256 batch
   with a small MLP.

Usage: python benchmarks/bench_core.py [--device cpu|cuda] [--repeats N]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from gendiff.losses import training_loss
from gendiff.methods import make_method
from gendiff.experiments.models import MLPDenoiser
from gendiff.schedules import make_beta
from gendiff.tables import build_tables


def tables_step_by_step(beta: torch.Tensor, sigma0: float = 1.0, *, floats: bool = False):
    """Algorithm 1 and every table, one t at a time (the baseline).

    floats=False: on torch scalars, as trainers write it (and as the generated reference does);
    floats=True: on Python floats, the fastest a per-step loop gets in Python.
    """
    T = beta.shape[0]
    b = beta.tolist() if floats else list(beta.unbind())
    math_sqrt = math.sqrt if floats else torch.sqrt
    gamma, c, abar = [0.0] * T, [0.0] * T, [0.0] * T
    c_prev, abar_prev = b[0] * 0, b[0] * 0 + 1.0
    for t in range(T):
        a = 1 - b[t]
        gamma[t] = 1.0 if t == 0 else b[t] * c_prev / (a * (1 - abar_prev))
        c_prev = math_sqrt(a) * (c_prev + gamma[t])
        abar_prev = abar_prev * a
        c[t], abar[t] = c_prev, abar_prev
    cT = c[-1]
    out = {k: [0.0] * T for k in ("gamma", "c", "psi", "phi", "lam", "A", "B", "C", "var")}
    for t in range(T):
        a, ab = 1 - b[t], abar[t]
        abp = abar[t - 1] if t else b[0] * 0 + 1.0
        g, ct = gamma[t] / cT, c[t] / cT
        cp = c[t - 1] / cT if t else 0.0
        out["gamma"][t], out["c"][t] = g, ct
        out["psi"][t] = ct / math_sqrt(1 - ab)
        out["phi"][t] = g * math_sqrt(a) * math_sqrt(1 - ab) / b[t]
        s2 = sigma0**2 * (b[t] if t == 0 else b[t] * (1 - abp) / (1 - ab))
        out["lam"][t] = b[t] ** 2 / (2 * s2 * a * (1 - ab))
        out["A"][t] = math_sqrt(abp) * b[t] / (1 - ab)
        out["B"][t] = math_sqrt(a) * (1 - abp) / (1 - ab)
        out["C"][t] = (b[t] * cp - a * g * (1 - abp)) / (1 - ab)
        out["var"][t] = sigma0**2 * b[t] * (1 - abp) / (1 - ab)
    return {k: torch.tensor([float(x) for x in v], dtype=torch.float64) for k, v in out.items()}


def timeit(fn, repeats, sync=lambda: None):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    beta = make_beta("linear", 1000)
    vec = timeit(lambda: build_tables(beta), args.repeats * 5)
    rec = timeit(lambda: tables_step_by_step(beta), args.repeats)
    rec_f = timeit(lambda: tables_step_by_step(beta, floats=True), args.repeats)
    ref = tables_step_by_step(beta)
    tb = build_tables(beta)
    agree = max(float(((ref[k] - getattr(tb, n)).abs() / getattr(tb, n).abs()).max())
                for k, n in (("gamma", "gamma"), ("psi", "psi"), ("phi", "phi"), ("lam", "lam")))
    print(f"tables T=1000: vectorised {vec * 1e3:.3f} ms, step-by-step {rec * 1e3:.3f} ms, "
          f"speed-up {rec / vec:.1f}x (target >= 50x); max relative difference {agree:.2e}")
    print(f"  same loop on Python floats: {rec_f * 1e3:.3f} ms, speed-up {rec_f / vec:.1f}x")

    torch.manual_seed(0)
    B, n = 4096, 256
    x0 = torch.randn(B, n, device=dev)
    model = MLPDenoiser(n, hidden=512).to(dev)
    res = {}
    methods = {m: make_method(m, beta) for m in ("base", "proposed")}
    methods = {m: (meth, meth.tables.to(dev)) for m, meth in methods.items()}

    def step(name):
        meth, tables = methods[name]
        model.zero_grad(set_to_none=True)
        training_loss(model, x0, tables, meth.xi_train, pred="v").backward()

    # interleave the methods so drift in machine load affects both alike
    for _ in range(3):
        for m in methods:
            res.setdefault(m, []).append(timeit(lambda: step(m), args.repeats, sync))
    base, prop = statistics.median(res["base"]), statistics.median(res["proposed"])
    print(f"loss eval+backward on {B}x{n} ({dev.type}): base {base * 1e3:.2f} ms, proposed {prop * 1e3:.2f} ms, "
          f"ratio proposed/base {prop / base:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
