"""`gendiff coefficients`: export the per-step coefficient tables (index 0 is t = 1).

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import sys


def _cmd_coefficients(args) -> int:
    from ..coefficients import coefficient_table, render
    from ..io import write_bytes_atomic
    from ..schedules import ScheduleError
    try:
        data = render(coefficient_table(args.schedule, args.T, args.gamma, args.sigma0, args.variance,
                                        args.offset_w), args.format)
    except (ScheduleError, ValueError) as e:
        print(f"gendiff coefficients: {e}", file=sys.stderr)
        return 2
    if args.out:
        write_bytes_atomic(args.out, data)
    elif args.format == "npy":
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data.decode())
    return 0


def register(sub) -> None:
    c = sub.add_parser("coefficients", help="export per-step coefficients (index 0 is t = 1)")
    c.add_argument("--schedule", default="linear", help="linear | scaled_linear | cosine | FILE of β_t")
    c.add_argument("--T", type=int, default=1000)
    c.add_argument("--gamma", default="balanced", choices=["balanced", "zero"])
    c.add_argument("--offset-w", type=float, default=None, help="conventional offset noise with constant w")
    c.add_argument("--sigma0", type=float, default=1.0)
    c.add_argument("--variance", default="beta_tilde", choices=["beta_tilde", "beta"])
    c.add_argument("--format", default="csv", choices=["csv", "json", "npy"])
    c.add_argument("--out", help="output file (stdout without it)")
    c.set_defaults(func=_cmd_coefficients)
