"""`gendiff experiment`: base vs offset vs proposed vs zero-SNR across dimensions.

Layer: cli — imports gendiff.experiments lazily (no torch import at parser construction).
"""
from __future__ import annotations

import sys

PROFILE_NAMES = ["smoke", "quick", "full", "long"]     # = gendiff.experiments.runner.PROFILES (kept lazy)


def _cmd_experiment(args) -> int:
    from ..experiments.runner import run_experiment
    try:
        dims = [int(x) for x in args.dims.split(",")] if args.dims else None
        if dims and min(dims) < 1:
            raise ValueError("dimensions must be >= 1")
        if args.seeds is not None and args.seeds < 1:
            raise ValueError("--seeds must be >= 1")
        methods = args.methods.split(",") if args.methods else None
        if methods:
            from ..experiments.runner import build_method
            for m in methods:
                build_method(m[7:] if m.startswith("oracle-") else m, 10)
        i, k = (int(v) for v in args.shard.split("/"))
        if not 0 <= i < k:
            raise ValueError(f"--shard must be i/k with 0 <= i < k, got {args.shard}")
    except ValueError as e:
        print(f"gendiff experiment: {e}", file=sys.stderr)
        return 2
    out = run_experiment(args.dataset, args.profile, dims=dims, methods=methods, seeds=args.seeds, out=args.out,
                         runs_dir=args.runs_dir, device=args.device, shard=(i, k))
    print(f"results written to {out}/" if out else f"shard {i}/{k} finished")
    return 0


def register(sub) -> None:
    e = sub.add_parser("experiment", help="Base vs offset vs proposed vs zero-SNR across dimensions")
    e.add_argument("dataset", choices=["cylinder", "gaussian"])
    e.add_argument("--dims", default=None, help="comma-separated n values (default: the profile's)")
    e.add_argument("--methods", default=None, help="comma-separated: base, offset-wW, proposed-scS, zero-snr, oracle-…")
    e.add_argument("--seeds", type=int, default=None)
    e.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    e.add_argument("--out", default=None, help="output folder (default reports/experiments/<dataset>[-<profile>])")
    e.add_argument("--runs-dir", default="runs", help="checkpoints and per-run results (resumable)")
    e.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    e.add_argument("--shard", default="0/1", help="i/k: run only every k-th job starting at i (parallel workers); "
                   "aggregate afterwards with a plain run, which skips finished jobs")
    e.set_defaults(func=_cmd_experiment)
