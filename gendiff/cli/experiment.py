"""`gendiff experiment <dataset>`: base vs offset vs proposed vs zero-SNR, one sub-command per data set.

Every argument, the device, the memory one job needs and the output folders are checked before the first
job starts.  Each data set has its own parser, so `--help` offers only the profiles (and options) it accepts.
Layer: cli — imports gendiff.experiments lazily (no torch import at parser construction).
"""
from __future__ import annotations

import argparse
import sys

from ._common import Parser, UsageError, check_output_dir, name_list, nonempty, option, positive_int

MAX_DIM = 1_000_000
# = gendiff.experiments.spec.VECTOR_PROFILES / IMAGE_PROFILES (lazy).  Costs: the committed timings.json of each
# folder; smoke: `gendiff experiment <dataset> --profile smoke` timed once on the busy 2-core machine.
VECTOR_PROFILES = {
    "smoke": "dims 2,4, 40 steps (a test of the machinery): cylinder 124 s wall, 45 CPU-seconds; gaussian 216 s, "
             "48 CPU-seconds",
    "quick": "dims 2,8,32, 1 seed, 1000 steps, six samplers: 653 s wall for cylinder on the busy 2-core machine",
    "full": "dims 2..256, 3 seeds, 3000 steps, sweeps and oracles: about 20 min per data set on 2 cores with two "
            "--shard workers",
    "samplers": "dims 2,32,256, 3 seeds, 3000 steps, six samplers: time not recorded (longer than full)",
    "long": "dims 256, 3 seeds, 10 000 steps, base and proposed-sc1: time not recorded",
}
IMAGE_PROFILES = {
    "smoke": "10 steps, T = 20, 64 images (a test of the machinery): 73 s wall, 11 CPU-seconds",
    "quick": "base and proposed-sc1, 2 seeds, 300 steps, ddim-50: about 1.5 min, 74 CPU-seconds",
    "full": "6 methods, 3 seeds, 1000 steps, ancestral-1000 and ddim-50: 2062 CPU-seconds (2750 s of training "
            "wall time on the busy 2-core machine)",
    "brightness16": "digits upsampled to 16×16 (n = 256) on scaled_linear: base, base-signal-leak, proposed-sc1, "
                    "zero-snr, 3 seeds, 1000 steps, ddim-50 and dpm2m-20 (times: timings.json of "
                    "reports/experiments/digits-brightness16)",
}
DATASETS = {"cylinder": ("points on a cylinder around the brightness axis in R^n", VECTOR_PROFILES),
            "gaussian": ("a correlated Gaussian with a strong brightness component in R^n", VECTOR_PROFILES),
            "digits": ("8×8 digits with a global brightness per image (UNet)", IMAGE_PROFILES)}
PROFILE_NAMES = list(VECTOR_PROFILES)
IMAGE_DATASETS = ["digits"]


class DatasetParser(Parser):
    """One-line errors as `gendiff experiment: <dataset>: <message>`, like every other sub-command's."""

    def error(self, message):
        head, _, name = self.prog.rpartition(" ")
        self.exit(2, f"{head}: {name}: {message} (see `{self.prog} --help`)\n")


def dim_list(text: str) -> list[int]:
    items = name_list(text)
    allowed = f"must be comma-separated integers in 1..{MAX_DIM}"
    try:
        dims = [int(x) for x in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{allowed}, got {text!r}") from None
    if min(dims) < 1 or max(dims) > MAX_DIM:
        raise argparse.ArgumentTypeError(f"{allowed}, got {text!r}")
    return dims


def shard(text: str) -> tuple[int, int]:
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be i/k with integers 0 <= i < k, got {text!r}") from None
    if not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"must be i/k with integers 0 <= i < k, got {text!r}")
    return i, k


def _cmd_experiment(args) -> int:
    from ..experiments.runfiles import resolve_device
    from ..experiments.runner import check_memory, check_request, run_experiment
    from ..experiments.spec import default_out
    check_request(args.dataset, args.profile, args.dims, args.methods, args.seeds, args.shard, args.schedule)
    if args.dataset not in IMAGE_DATASETS:
        with option("--dims"):
            check_memory(args.profile, args.dims)
    out = args.out or default_out(args.dataset, args.profile, args.schedule)
    with option("--device"):
        device = resolve_device(args.device)
    check_output_dir(args.runs_dir, "--runs-dir")
    if args.shard[1] == 1:
        check_output_dir(out, "--out")
    elif args.out is not None:
        raise UsageError("--out with --shard: a shard writes only run folders; aggregate with a plain run "
                         "(without --shard) that names --out")
    out = run_experiment(args.dataset, args.profile, dims=args.dims, methods=args.methods, seeds=args.seeds, out=out,
                         runs_dir=args.runs_dir, device=device, shard=args.shard, schedule=args.schedule,
                         progress=sys.stderr.isatty())          # progress bars only on a terminal
    i, k = args.shard
    print(f"results written to {out}/" if out else f"shard {i}/{k} finished")
    return 0


def register(sub) -> None:
    e = sub.add_parser("experiment", help="Base vs offset vs proposed vs zero-SNR on one data set (trains models)",
                       description="Train, sample and score every method of a profile on one data set; results "
                                   "go to reports/experiments/<dataset>[-<profile>]/ (resumable, see --runs-dir).")
    ds = e.add_subparsers(dest="dataset", required=True, metavar="dataset", parser_class=DatasetParser,
                          help="the data set (each has its own --help)")
    for name, (what, profiles) in DATASETS.items():
        d = ds.add_parser(name, help=what, description=f"`gendiff experiment {name}`: {what}.")
        d.add_argument("--profile", default="quick", choices=list(profiles), metavar="{" + ",".join(profiles) + "}",
                       help="budget and settings (default quick; times measured on a busy 2-core machine): "
                            + "; ".join(f"{k}: {v}" for k, v in profiles.items()))
        d.add_argument("--dims", type=dim_list, default=None, metavar="N,N,...",     # refused for images
                       help=f"comma-separated dimensions n in 1..{MAX_DIM} (default: the profile's); a run whose "
                            "largest n would not fit into the available memory is refused"
                            if profiles is VECTOR_PROFILES else argparse.SUPPRESS)
        d.add_argument("--methods", type=name_list, default=None, metavar="M,M,...",
                       help="comma-separated: base, offset-w<W>, proposed-sc<S>, zero-snr, base-signal-leak"
                            + (", oracle-<one of these>" if profiles is VECTOR_PROFILES else "")
                            + " (default: the profile's methods and sweeps)")
        d.add_argument("--schedule", default=None, choices=["linear", "scaled_linear", "cosine"],
                       help="β schedule of every method (default: linear, as in the committed results); another "
                            "schedule gets its own runs and output folder (suffix -<schedule>)")
        d.add_argument("--seeds", type=positive_int, default=None, metavar="K",
                       help="seeds 0..K-1 per method (default: the profile's)")
        d.add_argument("--out", type=nonempty, default=None, metavar="DIR",
                       help=f"output folder (default reports/experiments/{name}[-<profile>], no suffix for full)")
        d.add_argument("--runs-dir", type=nonempty, default="runs", metavar="DIR",
                       help="checkpoints, weights and per-run results; a re-run resumes and skips finished jobs "
                            "(default: runs)")
        d.add_argument("--device", type=nonempty, default=None,
                       help="cpu, cuda or cuda:<i> (default: cuda when available)")
        d.add_argument("--shard", type=shard, default=(0, 1), metavar="I/K",
                       help="run only every K-th job starting at I (parallel workers); aggregate afterwards "
                            "with a plain run, which skips finished jobs")
        d.set_defaults(func=_cmd_experiment)
    register_regime(ds)


# = gendiff.experiments.regime_run.PROFILES (lazy); times: the committed timings.json
REGIME_PROFILES = {
    "regime": "exact oracles of 5 methods, cylinder and gaussian × 3 schedules × n 256..4096, 3 seeds, ddim-50 "
              "(ancestral-1000 at n = 256): 1042 s wall with two --shard workers on the busy 2-core machine",
    "regime-trained": "trained MLPs of 5 methods at scaled_linear, cylinder and gaussian, n 1024 and 4096, 3 seeds, "
                      "3000 steps (60 MLPs): 98 min wall with two --shard workers on the busy 2-core machine",
    "regime-smoke": "a test of the machinery (seconds)",
}


def _cmd_regime(args) -> int:
    from ..experiments.regime_run import check, run_regime
    from ..experiments.runfiles import resolve_device
    check(args.profile)
    with option("--device"):
        device = resolve_device(args.device)
    check_output_dir(args.runs_dir, "--runs-dir")
    out = args.out or f"reports/experiments/{args.profile}"
    if args.shard[1] == 1:
        check_output_dir(out, "--out")
    elif args.out is not None:
        raise UsageError("--out with --shard: a shard writes only run folders; aggregate with a plain run")
    out = run_regime(args.profile, out=out, runs_dir=args.runs_dir, device=device, shard=args.shard,
                     progress=sys.stderr.isatty())                   # progress bars only on a terminal
    print(f"results written to {out}/" if out else f"shard {args.shard[0]}/{args.shard[1]} finished")
    return 0


def register_regime(ds) -> None:
    """`gendiff experiment regime`: the start-mismatch regimes over data set × schedule × n (regime_run)."""
    what = "brightness statistics against r = n·ᾱ_T·Var(L_avg)/σ_0² over data set × schedule × n"
    d = ds.add_parser("regime", help=what, description=f"`gendiff experiment regime`: {what}.")
    d.add_argument("--profile", default="regime", choices=list(REGIME_PROFILES),
                   metavar="{" + ",".join(REGIME_PROFILES) + "}",
                   help="; ".join(f"{k}: {v}" for k, v in REGIME_PROFILES.items()))
    d.add_argument("--out", type=nonempty, default=None, metavar="DIR",
                   help="output folder (default reports/experiments/<profile>)")
    d.add_argument("--runs-dir", type=nonempty, default="runs", metavar="DIR",
                   help="per-run results; a re-run skips finished jobs (default: runs)")
    d.add_argument("--device", type=nonempty, default=None, help="cpu, cuda or cuda:<i> (default: cuda when available)")
    d.add_argument("--shard", type=shard, default=(0, 1), metavar="I/K",
                   help="run only every K-th job starting at I; aggregate afterwards with a plain run")
    d.set_defaults(func=_cmd_regime)
