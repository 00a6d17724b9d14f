"""Detection rate of the Monte Carlo checks for 1 % coefficient errors, and their false-alarm count.

Usage: PYTHONPATH=. python benchmarks/mc_power.py [--seeds 20]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from gendiff import _reference as R
from tests.mc import CheckFailed
from tests.test_montecarlo import (POWER, elbo_loss_check, family, forward_chain_check, posterior_check,
                                   q_sample_check, tables_for)


def run(what, seed, perturb):
    s = dict(POWER, seed=10_000 + seed)
    g = torch.Generator().manual_seed(s["seed"])
    beta, tb = tables_for(s, g)
    fam, dev, f = family(s, g), torch.device("cpu"), (1.01 if perturb else 1.0)
    t = s["t"]
    try:
        if what == "psi":
            q_sample_check(dataclasses.replace(tb, psi=tb.psi * f), beta, fam, s, g, dev)
        elif what == "phi":
            elbo_loss_check(tb, beta, fam, s, g, dev, phi_scale=f)
        elif what == "post_coef_xt":
            posterior_check(tb, beta, fam, s, g, dev, expected={"B": f * R.posterior_coef_xt(beta)[t - 1].item()})
        elif what == "post_var":
            posterior_check(tb, beta, fam, s, g, dev, expected={"var": f * tb.post_var[t - 1].item()})
        else:
            forward_chain_check(tb, beta, fam, s, g, dev, expected={"c": f * R.c(beta, tb.gamma)[t - 1].item()})
    except CheckFailed:
        return True
    return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=20)
    a = p.parse_args()
    t0 = time.perf_counter()
    print(f"{'coefficient':<14} {'detected (1% off)':>18} {'false alarms (exact)':>21}")
    for what in ("psi", "phi", "post_coef_xt", "post_var", "c"):
        det = sum(run(what, s, True) for s in range(a.seeds))
        fa = sum(run(what, s, False) for s in range(a.seeds))
        print(f"{what:<14} {det:>12}/{a.seeds:<5} {fa:>15}/{a.seeds:<5}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
