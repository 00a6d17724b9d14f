"""`gendiff coefficients`: export the per-step coefficient tables (index 0 is t = 1).

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import sys

from ._common import UsageError, check_output_file, finite_float, name_list, schedule, sigma0, steps


def _cmd_coefficients(args) -> int:
    from ..coefficients import coefficient_table, render
    from ..io import write_bytes_atomic
    from ..schedules import ScheduleError
    if args.out is not None:
        check_output_file(args.out, "--out")
    if args.offset_w is not None and args.gamma is not None:
        raise UsageError(f"--gamma {args.gamma} and --offset-w exclude each other: --offset-w exports conventional "
                         "offset noise, which takes no γ")
    beta = schedule(args.schedule, args.T)
    try:
        table = coefficient_table(beta, gamma=args.gamma, sigma0=args.sigma0, variance=args.variance,
                                  offset_w=args.offset_w, columns=args.columns)
    except ScheduleError as e:                     # the balanced γ on a schedule with ᾱ_T = 0
        raise UsageError(f"--gamma {args.gamma or 'balanced'}: {e}") from None
    data = render(table, args.format)
    if args.out is not None:
        write_bytes_atomic(args.out, data)
    elif args.format == "npy":
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data.decode())
    return 0


def register(sub) -> None:
    c = sub.add_parser("coefficients", help="export per-step coefficients (index 0 is t = 1)")
    c.add_argument("--schedule", default="linear", help="linear | scaled_linear | cosine | FILE[:NAME] of β_t")
    c.add_argument("--T", type=steps, default=None, help="number of steps (default 1000; a file schedule sets it)")
    c.add_argument("--gamma", default=None, choices=["balanced", "zero"], help="default: balanced")
    c.add_argument("--offset-w", type=finite_float, default=None, help="conventional offset noise with constant w")
    c.add_argument("--sigma0", type=sigma0, default=1.0)
    c.add_argument("--variance", default="beta_tilde", choices=["beta_tilde", "beta"])
    c.add_argument("--columns", type=name_list, default=None,
                   help="comma-separated subset of the columns (default: t,beta,alpha,alpha_bar,gamma,c,psi,phi,lam,"
                        "post_coef_x0,post_coef_xt,post_coef_xi,post_var; also lam_v, sigma2, mu_eps_coef)")
    c.add_argument("--format", default="csv", choices=["csv", "json", "npy"])
    c.add_argument("--out", help="output file (stdout without it)")
    c.set_defaults(func=_cmd_coefficients)
