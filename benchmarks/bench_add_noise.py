"""Benchmark of the forward-noising hot path (prints ratios measured in one run; not a test).

Compares, on the same inputs x_0, ε (and ξ) of one shape and dtype:
- `add(out=)`        torch.add(x_0, ε, out=preallocated): the memory-bandwidth yardstick;
- `diffusers`        diffusers' DDPMScheduler.add_noise(x_0, ε, k);
- `q_sample`         gendiff.diffusion.q_sample with ξ (balanced γ), `q_sample ψ≡0` (γ = 0: ξ term skipped)
                     and `q_sample out=` (into a preallocated result: no allocation, no page faults);
- `sched.add_noise`  GeneralizedDDPMScheduler.add_noise with ξ, and `sched ξ≡0` (dirac family);
- `unfused`          the same formula written plainly (three table look-ups, six full-size temporaries).

Bandwidth = bytes of the full-size inputs read plus the output written, once each, per second.  Reported:
speed against diffusers (its time / ours; ≥ 1 is at least as fast) and bandwidth as a fraction of add(out=).
Rounds are interleaved and each figure is the median over rounds (the machine may be shared).
On CPU a fresh 64 MB result costs more in page faults than the arithmetic; THP_MEM_ALLOC_ENABLE=1 (torch's
transparent-huge-page allocation) cuts that cost for every allocating row alike.

Usage: python benchmarks/bench_add_noise.py [--shapes 65536x256,4096x4096,256x4x128x128] [--threads 1,2]
       [--rounds 7] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from gendiff.diffusion import q_sample
from gendiff.schedules import make_beta
from gendiff.tables import build_tables, extract
from gendiff.xi import Brightness, PerChannel


def unfused(x0, t, noise, xi, tb):
    """The plain formula: √ᾱ x_0 + √(1-ᾱ)(σ_0 ε + ψ ξ) with one look-up per table."""
    ab = extract(tb.alpha_bar, t, x0)
    om = extract(tb.one_minus_alpha_bar, t, x0)
    return ab.sqrt() * x0 + om.sqrt() * (tb.sigma0 * noise + extract(tb.psi, t, x0) * xi)


def cases(shape, device, dtype, seed=0):
    """name -> (callable, number of full-size tensors it reads + writes)."""
    from diffusers import DDPMScheduler
    from gendiff.integrations.diffusers import GeneralizedDDPMScheduler

    g = torch.Generator(device=device).manual_seed(seed)
    x0 = torch.randn(shape, generator=g, device=device, dtype=dtype)
    noise = torch.randn(shape, generator=g, device=device, dtype=dtype)
    fam = PerChannel(sigma_c=0.5) if len(shape) == 4 else Brightness(sigma_c=0.5)
    xi = fam.sample(shape, generator=g, device=device, dtype=dtype)
    k = torch.randint(0, 1000, (shape[0],), generator=g, device=device)
    t = k + 1
    out = torch.empty_like(x0)
    beta = make_beta("linear", 1000)
    tb, tb0 = build_tables(beta, gamma="balanced"), build_tables(beta, gamma="zero")
    stock = DDPMScheduler()
    family = "per_channel" if len(shape) == 4 else "brightness"
    gen, gen0 = GeneralizedDDPMScheduler(xi_family=family, sigma_c=0.5), GeneralizedDDPMScheduler(xi_family="dirac")
    return {
        "add(out=)": (lambda: torch.add(x0, noise, out=out), 3),
        "diffusers": (lambda: stock.add_noise(x0, noise, k), 3),
        "q_sample": (lambda: q_sample(x0, t, noise, xi, tb), 4),
        "q_sample ψ≡0": (lambda: q_sample(x0, t, noise, xi, tb0), 3),
        "q_sample out=": (lambda: q_sample(x0, t, noise, xi, tb, out=out), 4),
        "sched.add_noise": (lambda: gen.add_noise(x0, noise, k, xi), 4),
        "sched ξ≡0": (lambda: gen0.add_noise(x0, noise, k), 3),
        "unfused": (lambda: unfused(x0, t, noise, xi, tb), 4),
    }


def measure(shape, device, dtype, rounds, reps=3):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cs = cases(shape, device, dtype)
    times = {name: [] for name in cs}
    for fn, _ in cs.values():                                          # warm-up (caches, allocator)
        fn()
    for _ in range(rounds):
        for name, (fn, _) in cs.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            sync()
            times[name].append((time.perf_counter() - t0) / reps)
    med = {name: statistics.median(v) for name, v in times.items()}
    nbytes = torch.tensor([], dtype=dtype).element_size() * int(torch.Size(shape).numel())
    bw = {name: cs[name][1] * nbytes / med[name] / 1e9 for name in cs}
    return med, bw


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", default="65536x256,4096x4096,256x4x128x128")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    device = torch.device(a.device)
    for threads in [int(v) for v in a.threads.split(",")]:
        torch.set_num_threads(threads)
        for spec in a.shapes.split(","):
            shape = tuple(int(v) for v in spec.split("x"))
            med, bw = measure(shape, device, torch.float32, a.rounds)
            print(f"\n{spec} float32, {threads} thread(s), {device.type}, median of {a.rounds} rounds")
            print(f"{'':18s} {'ms':>8s} {'GB/s':>7s} {'vs diffusers':>13s} {'of add(out=)':>13s}")
            for name in med:
                print(f"{name:18s} {med[name] * 1e3:8.2f} {bw[name]:7.2f} {med['diffusers'] / med[name]:12.2f}x "
                      f"{bw[name] / bw['add(out=)']:12.0%}")


if __name__ == "__main__":
    main()
