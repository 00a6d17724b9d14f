"""`gendiff coefficients`: export the per-step coefficient tables (index 0 is t = 1).

The format comes from --out's suffix (.csv/.txt, .json, .npy) or from --format for stdout (`--out -` or no
--out); a suffix that contradicts --format is refused.  Every format written here is readable by
--schedule, --input-coef and --target-coef (gendiff.arrayfiles).

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

from ._common import (UsageError, add_schedule_options, check_output_file, finite_float, name_list, output_format,
                      schedule_from_args, sigma0, write_output)


def _cmd_coefficients(args) -> int:
    from ..coefficients import coefficient_table, render
    from ..schedules import ScheduleError
    out = "-" if args.out is None else check_output_file(args.out, "--out")
    fmt = output_format(args.out, args.format)
    if args.offset_w is not None and args.gamma is not None:
        raise UsageError(f"--gamma {args.gamma} and --offset-w exclude each other: --offset-w exports conventional "
                         "offset noise, which takes no γ")
    beta = schedule_from_args(args)
    try:
        table = coefficient_table(beta, gamma=args.gamma, sigma0=args.sigma0, variance=args.variance,
                                  offset_w=args.offset_w, columns=args.columns)
    except ScheduleError as e:                     # the balanced γ on a schedule with ᾱ_T = 0
        raise UsageError(f"--gamma {args.gamma or 'balanced'}: {e}") from None
    write_output(out, render(table, fmt), "--out")
    return 0


def register(sub) -> None:
    c = sub.add_parser("coefficients", help="export per-step coefficients (index 0 is t = 1)",
                       description="Export the per-step coefficient table of a member of the family "
                                   "(index 0 is t = 1), as CSV, JSON or NPY.")
    add_schedule_options(c)
    c.add_argument("--gamma", default=None, choices=["balanced", "zero"],
                   help="γ_t: balanced (ψ_t = ϕ_t, c_T = 1; the default) or zero (DDPM)")
    c.add_argument("--offset-w", type=finite_float, default=None, metavar="W",
                   help="export conventional offset noise with constant ψ_t = ϕ_t = W instead (excludes --gamma)")
    c.add_argument("--sigma0", type=sigma0, default=1.0, help="σ_0, the scale of the Gaussian noise (default 1)")
    c.add_argument("--variance", default="beta_tilde", choices=["beta_tilde", "beta"],
                   help="reverse-step variance σ_t²: σ_0² β̃_t (default) or σ_0² β_t")
    c.add_argument("--columns", type=name_list, default=None,
                   help="comma-separated subset of the columns (default: t,beta,alpha,alpha_bar,gamma,c,psi,phi,lam,"
                        "post_coef_x0,post_coef_xt,post_coef_xi,post_var; also lam_v, sigma2, mu_eps_coef)")
    c.add_argument("--format", default=None, choices=["csv", "json", "npy"],
                   help="output format; default: from --out's suffix (.csv/.txt, .json, .npy), csv on stdout")
    c.add_argument("--out", metavar="FILE",
                   help="output file, written atomically; - or no --out: stdout. A device, FIFO or folder is "
                        "refused; a symbolic link is followed and its target replaced")
    c.set_defaults(func=_cmd_coefficients)
