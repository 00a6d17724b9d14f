"""Benchmark of one scheduler `step` against diffusers' stock scheduler (prints ratios measured in one run;
not a test).

On the same (model_output, sample) of one shape and dtype, after set_timesteps(steps), each case runs `step`
over the whole grid of timesteps; rounds of all cases are interleaved and each figure is the median over
rounds (the machine may be shared).  Cases:
- `stock DDIM` / `stock DDPM`        diffusers' DDIMScheduler / DDPMScheduler (clip_sample=False, trailing);
- `ours DDIM ξ≡0` / `ours DDPM ξ≡0`  the generalized schedulers with xi_family='dirac' (the same numbers);
- `ours DDIM ξ` / `ours DDPM ξ`      per_channel ξ (σ_c = 0.5, balanced γ): ξ̂ = E[ξ | x_t] and the c ξ̂ terms.
DDIM is timed at η = 0 and η = 0.5 (a noise draw per step in both).  Reported: µs per step and the cost
ratio ours / stock (≤ 1.2 is the goal).

Usage: python benchmarks/bench_scheduler_step.py [--shape 4x4x64x64] [--steps 50] [--rounds 15]
       [--threads 1] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def cases(shape, device, dtype, steps):
    from diffusers import DDIMScheduler, DDPMScheduler
    from gendiff.integrations.diffusers import GeneralizedDDIMScheduler, GeneralizedDDPMScheduler

    cfg = dict(clip_sample=False, timestep_spacing="trailing")
    scheds = {
        "stock DDIM": DDIMScheduler(**cfg), "ours DDIM ξ≡0": GeneralizedDDIMScheduler(**cfg, xi_family="dirac"),
        "ours DDIM ξ": GeneralizedDDIMScheduler(**cfg, sigma_c=0.5),
        "stock DDPM": DDPMScheduler(**cfg), "ours DDPM ξ≡0": GeneralizedDDPMScheduler(**cfg, xi_family="dirac"),
        "ours DDPM ξ": GeneralizedDDPMScheduler(**cfg, sigma_c=0.5),
    }
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape, generator=g, device=device, dtype=dtype)
    out = torch.randn(shape, generator=g, device=device, dtype=dtype)
    for s in scheds.values():
        s.set_timesteps(steps, device=device)
    runs = {}
    for name, s in scheds.items():
        etas = (0.0, 0.5) if "DDIM" in name else (None,)
        for eta in etas:
            kw = {} if eta is None else {"eta": eta}
            label = name if eta is None else f"{name} η={eta:g}"
            ks = list(s.timesteps)
            runs[label] = (lambda s=s, ks=ks, kw=kw: [s.step(out, k, x, generator=g, **kw) for k in ks], len(ks))
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="4x4x64x64")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    shape = tuple(int(v) for v in a.shape.split("x"))
    runs = cases(shape, a.device, getattr(torch, a.dtype), a.steps)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    for fn, _ in runs.values():                     # warm-up: caches, allocator, first-call costs
        fn()
    times = {k: [] for k in runs}
    for _ in range(a.rounds):
        for name, (fn, n) in runs.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - t0) / n)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"scheduler step, shape {shape}, {a.dtype}, {a.device}, threads {a.threads}, {a.steps} steps, "
          f"median of {a.rounds} interleaved rounds")
    print(f"{'case':24s} {'µs/step':>9s} {'ours/stock':>10s}")
    for name, t in med.items():
        kind = "DDIM" if "DDIM" in name else "DDPM"
        eta = name.split(" ")[-1] if "η=" in name else ""
        ref = med[f"stock {kind}" + (f" {eta}" if eta else "")]
        print(f"{name:24s} {1e6 * t:9.1f} {t / ref:10.3f}")


if __name__ == "__main__":
    main()
