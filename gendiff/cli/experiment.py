"""`gendiff experiment`: base vs offset vs proposed vs zero-SNR across dimensions.

Every argument, the device and the output folders are checked before the first job starts.
Layer: cli — imports gendiff.experiments lazily (no torch import at parser construction).
"""
from __future__ import annotations

import argparse
import sys

from ._common import UsageError, check_output_dir, name_list, nonempty, option, positive_int

PROFILE_NAMES = ["smoke", "quick", "full", "samplers", "long"]     # = gendiff.experiments.runner.PROFILES (lazy)
DATASET_NAMES = ["cylinder", "gaussian"]               # = gendiff.experiments.runner.DATASETS
IMAGE_DATASETS = ["digits"]                            # gendiff.experiments.digits (issue 12)


def dim_list(text: str) -> list[int]:
    items = name_list(text)
    try:
        dims = [int(x) for x in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, got {text!r}") from None
    if min(dims) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1, got {text!r}")
    return dims


def shard(text: str) -> tuple[int, int]:
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be i/k with integers 0 <= i < k, got {text!r}") from None
    if not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"must be i/k with integers 0 <= i < k, got {text!r}")
    return i, k


def _cmd_digits(args) -> int:
    """`gendiff experiment digits`: the image experiment, with its own runner and profiles."""
    from ..experiments.digits import check_request, default_out, run_experiment
    from ..experiments.runfiles import resolve_device
    check_request(args.profile, args.dims, args.methods, args.seeds, shard=args.shard)   # its messages name the option
    with option("--device"):
        device = resolve_device(args.device)
    out = args.out or default_out(args.profile)
    check_output_dir(args.runs_dir, "--runs-dir")
    if args.shard[1] == 1:
        check_output_dir(out, "--out")
    elif args.out is not None:
        raise UsageError("--out with --shard: a shard writes only run folders; aggregate with a plain run")
    out = run_experiment(args.profile, methods=args.methods, seeds=args.seeds, out=out, runs_dir=args.runs_dir,
                         device=device, shard=args.shard, progress=sys.stderr.isatty())
    print(f"results written to {out}/" if out else f"shard {args.shard[0]}/{args.shard[1]} finished")
    return 0


def _cmd_experiment(args) -> int:
    if args.dataset in IMAGE_DATASETS:
        return _cmd_digits(args)
    from ..experiments.runner import check_request, default_out, resolve_device, run_experiment
    with option("--methods"):
        check_request(args.dataset, args.profile, args.dims, args.methods, args.seeds, args.shard)
    with option("--device"):
        device = resolve_device(args.device)
    out = args.out or default_out(args.dataset, args.profile)
    check_output_dir(args.runs_dir, "--runs-dir")
    if args.shard[1] == 1:
        check_output_dir(out, "--out")
    elif args.out is not None:
        raise UsageError("--out with --shard: a shard writes only run folders; aggregate with a plain run "
                         "(without --shard) that names --out")
    out = run_experiment(args.dataset, args.profile, dims=args.dims, methods=args.methods, seeds=args.seeds,
                         out=out, runs_dir=args.runs_dir, device=device, shard=args.shard,
                         progress=sys.stderr.isatty())          # progress bars only on a terminal
    i, k = args.shard
    print(f"results written to {out}/" if out else f"shard {i}/{k} finished")
    return 0


def register(sub) -> None:
    e = sub.add_parser("experiment", help="Base vs offset vs proposed vs zero-SNR across dimensions")
    e.add_argument("dataset", choices=DATASET_NAMES + IMAGE_DATASETS)
    e.add_argument("--dims", type=dim_list, default=None, help="comma-separated n values (default: the profile's)")
    e.add_argument("--methods", type=name_list, default=None,
                   help="comma-separated: base, offset-wW, proposed-scS, zero-snr, oracle-…")
    e.add_argument("--seeds", type=positive_int, default=None)
    e.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    e.add_argument("--out", type=nonempty, default=None,
                   help="output folder (default reports/experiments/<dataset>[-<profile>])")
    e.add_argument("--runs-dir", type=nonempty, default="runs", help="checkpoints and per-run results (resumable)")
    e.add_argument("--device", type=nonempty, default=None, help="cpu, cuda or cuda:<i> (default: cuda when available)")
    e.add_argument("--shard", type=shard, default=(0, 1), help="i/k: run only every k-th job starting at i (parallel "
                   "workers); aggregate afterwards with a plain run, which skips finished jobs")
    e.set_defaults(func=_cmd_experiment)
