"""Benchmark (prints figures measured in one run; not a test): quality against network calls of every sampler.

1. Exact law (no sampling error, tests/exact_law.py): Gaussian data along the brightness direction, data variance
   n/3 (cylinder's Var(L_avg) = 1/3), ξ variance n σ_c² (σ_c = 1), T = 1000, every named schedule, methods base (ε),
   proposed-sc1 (balanced γ, v) and zero-snr (rescaled schedule, v): W1(L_avg) of ancestral-1000, ddim-k (default
   rule: whitened where q(ξ) has structure), ddim-k with rule='ddim' (the frozen-mean jump), dpm2m-k (defaults:
   whitened 2M, log-SNR grid where ᾱ collapses) and dpm2m-k in ξ̂-form on the trailing grid; k = 10, 20, 50, 100.
   W1 = √(2/π)|sd - sd_data| (1-D Gaussians).  Target: 50 steps within 1.5× of ancestral-1000.  Base also from
   the signal-leak start (variance |w_T|²); the verdict gives the fewest dpm2m steps that reach the target, the
   bound 1/ρ of deterministic grids from the prior start, and whether start='auto' refuses the row.
2. Exact EmpiricalOracle (1000 cylinder training points, ξ marginalised), n = 32 (--n), float64: W1(L_avg) of 2000
   samples against 2000 held-out points, mean ± sd over seeds, every named schedule (proposed-sc1, v; --quick:
   linear only), ddim-frozen-50 = ddim-50 with rule='ddim'; the DPM criterion: dpm2m-20 within 1.2× of ddim-50,
   dpm2m-10 below ddim-10.
3. Wall time of ddim-50 against ancestral-1000 with the experiment's MLP (untrained, n = 32, 2000 samples).

Usage: python benchmarks/bench_samplers.py [--quick] [--device cpu|cuda] [--threads 1] [--seeds 3] [--n 32]
--quick: part 1 at n = 256 with k = 10, 50; part 2 with 500 samples, one seed, linear only; 3 timing repeats.
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
from gendiff.samplers import ancestral, ddim, dpm_solver_2m
from gendiff.sampler_grids import auto_grid, timesteps
from gendiff.schedules import NAMES, make_beta, rescale_zero_terminal_snr
from gendiff.starts import prior_start_ratio, refused
from gendiff.tables import build_tables
from gendiff.xi import Brightness, Dirac
from tests.exact_law import output_variance, w1_brightness_gaussian

N_DIM, T, PRED, N_TRAIN = 32, 1000, "v", 1000
METHODS = ("base", "proposed", "zero-snr")
# name -> (sampler, keyword arguments given steps k)
KINDS = {
    "ddim": (ddim, lambda k: dict(steps=k)),
    "ddim-frozen": (ddim, lambda k: dict(steps=k, rule="ddim")),
    "dpm2m": (dpm_solver_2m, lambda k: dict(steps=k)),
    "dpm2m-xi-trailing": (dpm_solver_2m, lambda k: dict(steps=k, rule="dpm2m", spacing="trailing")),
}
SAMPLERS = {"ancestral-1000": (ancestral, {}), "ddim-50": (ddim, dict(steps=50))}


def method_tables(schedule, method):
    """(tables, pred, q(ξ) for sampling, σ_c) of a method on a named schedule."""
    beta = make_beta(schedule, T)
    if method == "zero-snr":
        return build_tables(rescale_zero_terminal_snr(beta), gamma="zero"), "v", Dirac(), 0.0
    if method == "base":
        return build_tables(beta, gamma="zero"), "eps", Dirac(), 0.0
    return build_tables(beta, gamma="balanced"), "v", Brightness(sigma_c=1.0), 1.0


def calls(sampler, tb, k, kw):
    if sampler is ancestral:
        return tb.T
    if kw.get("spacing") == "trailing" or sampler is ddim:
        return len(timesteps(tb.T, k))
    return len(auto_grid(tb, k))


SEARCH = (50, 60, 70, 80, 100, 150, 200, 300, 500, 1000)   # step counts tried where 50 misses the target


def exact_law(ns, ks):
    print(f"1. exact law along the brightness direction (Gaussian data), T = {T}: W1(L_avg) (network calls)")
    verdict = []
    for sched in NAMES:
        for m in METHODS:
            tb, pred, fam, sc = method_tables(sched, m)
            for n in ns:
                lam, N = n / 3, n * sc**2
                starts = {"prior": None}
                if m == "base":                  # the signal-leak start: the forward variance |w_T|² at T
                    ab = float(tb.alpha_bar[-1])
                    starts["leak"] = ab * lam + tb.sigma0**2 * (1 - ab)
                rho = prior_start_ratio(tb, fam, (1, n))
                for start, sv in starts.items():
                    def w(f, **kw):
                        return w1_brightness_gaussian(output_variance(f, tb, lam, N, pred=pred, start_var=sv, **kw),
                                                      lam, n)
                    anc = w(ancestral)
                    print(f"\n{sched}, {m} ({start} start), n = {n}: ancestral-1000 {anc:.4f}\n| sampler | " +
                          " | ".join(f"k = {k}" for k in ks) + " |\n|---" + "|---" * len(ks) + "|")
                    for name, (f, kw) in KINDS.items():
                        vals = {k: w(f, **kw(k)) for k in ks}
                        print(f"| {name} | " + " | ".join(f"{vals[k]:.4f} ({calls(f, tb, k, kw(k))})" for k in ks)
                              + " |")
                    k_ok = next((k for k in SEARCH if w(dpm_solver_2m, steps=k) <= 1.5 * anc), None)
                    verdict.append((sched, m, n, start, w(dpm_solver_2m, steps=50) / anc, w(ddim, steps=50) / anc,
                                    k_ok, 1 / rho if start == "prior" else 1.0, start == "prior" and refused(rho)))
    print("\n50 steps against ancestral-1000 (target ≤ 1.5×); k: the fewest dpm2m steps within 1.5× (of "
          f"{', '.join(map(str, SEARCH))}); 1/ρ: the bound S_0/|w_T|² on Var_gen/Var_data of every deterministic grid "
          "[start_mismatch.det_bound]; default: what start='auto' does\n"
          "| schedule | method | n | start | dpm2m-50 | ddim-50 | k | 1/ρ | default |\n|---|---|---|---|---|---|---|---|---|")
    for sched, m, n, start, r2, r1, k_ok, bound, no in verdict:
        print(f"| {sched} | {m} | {n} | {start} | {r2:.2f}× {'ok' if r2 <= 1.5 else 'NO'} | {r1:.2f}× | "
              f"{k_ok or 'none'} | {bound:.4f} | {'refused' if no else 'samples' if start == 'prior' else '-'} |")


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


def quality(schedules, samples, seeds, dev, n_dim=N_DIM):
    """Cylinder, exact EmpiricalOracle, proposed-sc1 (v): W1(L_avg) per sampler, mean ± sd over seeds."""
    names = (["ancestral-1000"] + [f"{kind}-{k}" for kind in ("ddim", "dpm2m") for k in (10, 20, 50)]
             + ["ddim-frozen-50"])
    train_x = make_split("cylinder", n_dim, "train", N_TRAIN)
    test_x = make_split("cylinder", n_dim, "test", samples)
    floor = w1_brightness(make_split("cylinder", n_dim, "val", samples), test_x)
    print(f"\n2. W1(L_avg), exact EmpiricalOracle ({N_TRAIN} cylinder points), proposed-sc1, v, n = {n_dim}, "
          f"{samples} samples vs {samples} held-out, {seeds} seed(s); floor (two held-out sets): {floor:.4f}")
    for sched in schedules:
        tb, pred, fam, sc = method_tables(sched, "proposed")
        tb = tb.to(dev)
        oracle = EmpiricalOracle(train_x, tb, sigma_c=sc, pred=pred).to(dev)
        res = {}
        for name in names:
            kind, k = name.rsplit("-", 1)
            f = {"ancestral": ancestral, "ddim": ddim, "ddim-frozen": ddim, "dpm2m": dpm_solver_2m}[kind]
            kw = {} if kind == "ancestral" else dict(steps=int(k), **({"rule": "ddim"} if kind == "ddim-frozen" else {}))
            res[name] = []
            for seed in range(seeds):
                gen = torch.Generator(device=dev).manual_seed(10_000 + seed)
                x = f(oracle, (samples, n_dim), tb, fam, pred=pred, generator=gen, device=dev, dtype=torch.float64, **kw)
                if not torch.isfinite(x).all():
                    raise FloatingPointError(f"{sched} {name}, seed {seed}: non-finite samples")
                res[name].append(w1_brightness(x.cpu(), test_x))
        print(f"\n{sched}:\n| sampler | network calls | W1(L_avg) |\n|---|---|---|")
        for name, v in res.items():
            kind, k = name.rsplit("-", 1)
            n_calls = T if kind == "ancestral" else (len(timesteps(T, int(k))) if kind.startswith("ddim")
                                                    else len(auto_grid(tb.to("cpu"), int(k))))
            print(f"| {name} | {n_calls} | {fmt(v)} |")
        m = {k: statistics.fmean(v) for k, v in res.items()}
        print(f"criterion: dpm2m-20 / ddim-50 = {m['dpm2m-20'] / m['ddim-50']:.2f} (≤ 1.2: "
              f"{'yes' if m['dpm2m-20'] <= 1.2 * m['ddim-50'] else 'NO'}); dpm2m-10 {m['dpm2m-10']:.4f} vs ddim-10 "
              f"{m['ddim-10']:.4f} ({'beats' if m['dpm2m-10'] < m['ddim-10'] else 'does NOT beat'})")


def fmt(v):
    m = statistics.fmean(v)
    return f"{m:.4f} ± {statistics.stdev(v):.4f}" if len(v) > 1 else f"{m:.4f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seeds", type=int, default=None, help="part-2 seeds (default 3, --quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="timing repeats (default 5, --quick 3)")
    p.add_argument("--parts", default="1,2,3", help="which parts to run (comma-separated)")
    p.add_argument("--n", type=int, default=N_DIM, help=f"part-2 dimension (default {N_DIM})")
    a = p.parse_args()
    parts = {int(x) for x in a.parts.split(",")}
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if 1 in parts:
        exact_law((256,) if a.quick else (256, 1024), (10, 50) if a.quick else (10, 20, 50, 100))
    if 2 in parts:
        quality(("linear",) if a.quick else NAMES, 500 if a.quick else 2000, a.seeds or (1 if a.quick else 3), dev,
                a.n)
    if 3 in parts:
        repeats = a.repeats or (3 if a.quick else 5)
        print(f"\n3. wall time, MLPDenoiser(n = {N_DIM}), 2000 samples, float32, device {dev}, threads {a.threads}, "
              f"median of {repeats} interleaved repeats")
        tm = timing(build_method("proposed-sc1", T), 2000, repeats, dev, sync)
        for k, v in tm.items():
            print(f"  {k:<16} {v:8.3f} s")
        print(f"  ancestral-1000 / ddim-50 = {tm['ancestral-1000'] / tm['ddim-50']:.1f}×")


if __name__ == "__main__":
    main()
