"""Benchmark of `gendiff brightness-check`'s engine (prints times measured in one run; not a test).

Times gendiff.regime.predict, including building the method's tables, for every method of the README table ×
(ddim-50, dpm2m-20, ancestral-1000) on scaled_linear with T = 1000.  Reported: the median seconds per prediction,
and the whole table (5 methods × 3 samplers × 3 sizes) as a fraction of one second.  Startup (importing torch)
is not included.

Usage: python benchmarks/bench_brightness_check.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

from gendiff.methods import method_from_spec
from gendiff.regime import predict
from gendiff.schedules import make_beta
from gendiff.starts import SignalLeak

SPECS = ("base", "offset-w0.1", "proposed-sc1", "zero-snr", "base-signal-leak")
SIZES = (64 * 64, 128 * 128, 256 * 256)


def one_table(beta) -> int:
    leak = SignalLeak(mean=[0.0], var=[1 / 3])
    count = 0
    for n in SIZES:
        for spec in SPECS:
            m = method_from_spec(spec, beta, leak=leak)
            for s in ("ddim-50", "dpm2m-20", "ancestral-1000"):
                predict(m, s, n=n, data_var=1 / 3)
                count += 1
    return count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    beta = make_beta("scaled_linear", 1000)
    one_table(beta)                                              # warm-up
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        count = one_table(beta)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"{count} predictions: median {med:.4f} s per table ({med / count * 1e3:.2f} ms per prediction), "
          f"{med:.3f} of one second; rounds: {', '.join(f'{t:.4f}' for t in times)}")


if __name__ == "__main__":
    main()
