"""`gendiff brightness-check`: predicted brightness range of a sampler for Gaussian data [result 'start_mismatch'].

For each --method and --sampler: the start's variance ratio |w_T|²/S_0 of the brightness coordinate and its KL,
the predicted Var_gen(L_avg)/Var_data(L_avg) and the predicted fraction of near-extreme samples
(|L_avg| > 0.8) beside the data's, computed in float64 from the tables by :func:`gendiff.regime.predict`, for
the named sampler at its defaults; the table names the jump rule it runs (e.g. 'ddim-50 (whitened)') and the
grid where it is not the trailing one ('dpm2m-20 (whitened2m, logsnr)').
--n is the number of components per channel; --latent C,H,W sets n = H·W (every channel alike).

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import argparse
import json

from ._common import (UsageError, add_schedule_options, name_list, option, positive_float, positive_int, schedule_from_args,
                      schedule_name, sigma0)


def latent(text: str) -> tuple[int, int, int]:
    parts = [p.strip() for p in text.split(",")]
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3 or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"must be C,H,W: three integers >= 1, got {text!r}")
    return vals


def _cmd(args) -> int:
    from ..methods import method_from_spec
    from ..regime import predict
    from ..starts import SignalLeak
    if (args.n is None) == (args.latent is None):
        raise UsageError("give exactly one of --n (components per channel) and --latent C,H,W")
    n = args.n if args.n is not None else args.latent[1] * args.latent[2]
    beta = schedule_from_args(args)
    leak = SignalLeak(mean=[0.0], var=[args.data_var])      # the Gaussian data's brightness law, per channel
    rows = []
    for spec in args.method:
        with option("--method"):
            m = method_from_spec(spec, beta, sigma0=args.sigma0, leak=leak)
        for s in args.sampler:
            with option("--sampler"):
                rows.append(predict(m, s, n=n, data_var=args.data_var))
    if args.json:
        meta = {"schedule": schedule_name(args), "latent": list(args.latent) if args.latent else None, "sigma0": args.sigma0}
        print(json.dumps({"settings": meta, "predictions": rows}, indent=2, allow_nan=False))
        return 0
    r0 = rows[0]
    shape = f"latent {','.join(map(str, args.latent))}, " if args.latent else ""
    print(f"{schedule_name(args)} (T = {r0['T']}), {shape}n = {n} per channel, Var(L_avg(x_0)) = {args.data_var:.4g}, "
          f"σ_0 = {args.sigma0:g}; Gaussian data, exact conditional means [result 'start_mismatch']")
    print(f"data: frac_extreme (|L_avg| > 0.8) = {r0['frac_extreme_data']:.4f}")
    head = ("method", "sampler", "alpha_bar_T", "r", "|w_T|²/S_0", "KL", "Var_gen/Var_data", "frac_extreme")
    print("  ".join(f"{h:>16}" if i != 1 else f"{h:>28}" for i, h in enumerate(head)))
    for r in rows:
        extra = "" if r["spacing"] in ("trailing", "all") else f", {r['spacing']}"
        vals = (r["method"], f"{r['sampler']} ({r['rule']}{extra})", f"{r['alpha_bar_T']:.4g}", f"{r['r']:.4g}", f"{r['start_ratio']:.4g}",
                f"{r['start_kl']:.4g}", f"{r['var_ratio']:.4f}", f"{r['frac_extreme']:.4f}")
        print("  ".join(f"{v:>16}" if i != 1 else f"{v:>28}" for i, v in enumerate(vals)))
    return 0


def register(sub) -> None:
    c = sub.add_parser("brightness-check", help="predict a sampler's brightness range (start mismatch)")
    add_schedule_options(c)
    c.add_argument("--n", type=positive_int, default=None, help="components per channel")
    c.add_argument("--latent", type=latent, default=None, help="C,H,W: n = H·W per channel")
    c.add_argument("--method", type=name_list, default=["base"],
                   help="comma-separated: base, offset-wW, proposed-scS, zero-snr, base-signal-leak (default base)")
    c.add_argument("--sampler", type=name_list, default=["ddim-50"],
                   help="comma-separated: ancestral-T, ddim-K, stock-ddim-K, dpm2m-K, each at the core sampler's "
                        "defaults (default ddim-50)")
    c.add_argument("--data-var", type=positive_float, default=1 / 3,
                   help="Var(L_avg(x_0)) of the data (default 1/3, uniform brightness on [-1, 1])")
    c.add_argument("--sigma0", type=sigma0, default=1.0)
    c.add_argument("--json", action="store_true", help="print the predictions as JSON")
    c.set_defaults(func=_cmd)
