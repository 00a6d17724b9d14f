"""`gendiff verify-offset`: audit a trainer's offset-noise coefficients against the ELBO [result 'offset'].

--input-coef/--target-coef take const:W, a file of one value per step, or a table written by
`gendiff coefficients` (its `psi` column for the input, its `phi` column for the target; FILE:NAME picks
another); a table's own `beta` column must be the schedule in use.  Exit 0 consistent, 1 inconsistent,
2 unusable input.  When inconsistent, two consistent alternatives are printed (and written by
--suggest-out): the ELBO target b*_t for the given input [offset.target_implied], and the balanced member
with the same c_T, ψ_t = ϕ_t = c_T ψ^bal_t [balanced.psi; c_t is linear in γ, forward.c_sum_term].

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import json
import math

from ._common import (UsageError, add_schedule_options, check_output_file, check_table_schedule, fraction, option,
                      output_format, schedule_from_args, sigma0, write_output)


def _parse_coef(spec: str, opt: str, column: str, beta, args):
    from ..arrayfiles import is_number
    from ..schedules import read_column
    head, sep, rest = spec.partition(":")
    if sep and head.lower() == "const" and head != "const":
        raise UsageError(f"{opt} {spec!r}: did you mean const:{rest}? (the prefix is lower-case)")
    if spec.startswith("const:"):
        try:
            w = float(spec[6:])
        except ValueError:
            raise UsageError(f"{opt}: cannot read a number from {spec!r} (use const:W with a finite W)") from None
        if not math.isfinite(w):
            raise UsageError(f"{opt}: {spec!r} is not finite (use const:W with a finite W)")
        return w
    if is_number(spec):
        raise UsageError(f"{opt} {spec!r} is a number, not a file: did you mean const:{spec}?")
    with option(opt):
        values, table_beta = read_column(spec, what=f"{'input' if opt == '--input-coef' else 'target'} coefficient",
                                         default_column=column)
    check_table_schedule(table_beta, beta, opt, spec, args)
    return values


def suggestions(beta, res, a):
    """{column: values} of the two consistent alternatives (see the module docstring), as a coefficients table."""
    import torch
    from ..tables import build_tables
    bal = build_tables(beta, gamma="balanced").psi * res.c_T
    t = torch.arange(1, beta.shape[0] + 1)
    return {"t": t.numpy(), "beta": beta.numpy(), "psi": a.numpy(), "phi": res.implied_phi.numpy(),
            "gamma": res.implied_gamma.numpy(), "psi_balanced": bal.numpy(), "phi_balanced": bal.numpy()}


def _cmd_verify_offset(args) -> int:
    from ..audit import audit, format_table
    from ..schedules import terminal_snr_problem
    suggest = None if args.suggest_out is None else check_output_file(args.suggest_out, "--suggest-out")
    suggest_fmt = None if suggest is None else output_format(args.suggest_out, None, "--suggest-out")
    beta = schedule_from_args(args)
    problem = terminal_snr_problem(beta)
    if problem:
        raise UsageError(f"--schedule {args.schedule}: {problem}; the audit needs ᾱ_T > 0 (the balanced reference "
                         "and the ε-target weights are undefined otherwise)")
    a = _parse_coef(args.input_coef, "--input-coef", "psi", beta, args)
    b = None if args.target_coef is None else _parse_coef(args.target_coef, "--target-coef", "phi", beta, args)
    res = audit(beta, a, b, rtol=args.rtol, names=("--input-coef", "--target-coef"))
    import torch
    T = beta.shape[0]
    av = torch.as_tensor(a, dtype=torch.float64).reshape(-1).expand(T).clone()
    bv = av if b is None else torch.as_tensor(b, dtype=torch.float64).reshape(-1).expand(T)
    alt = suggestions(beta, res, av)
    if args.json:
        payload = {"schedule": str(args.schedule), "T": T, "sigma0": args.sigma0, **res.to_json(),
                   "suggested_balanced": alt["psi_balanced"].tolist()}
        try:
            text = json.dumps(payload, indent=2, allow_nan=False)
        except ValueError:
            raise UsageError("the audit produced a non-finite number (coefficients too large or too small for "
                             "float64): multiply every coefficient by one factor") from None
        print(text)
    else:
        print(f"verdict: {'consistent' if res.consistent else 'inconsistent'} "
              f"(largest relative mismatch {res.max_rel_mismatch:.3g} at t = {res.argmax_t}, tolerance {res.rtol:g})")
        print(f"ξ-coefficient of E[x_T|x_0,ξ]: c_T = {res.c_T:.6g} "
              f"({'normalised' if res.normalised else 'not normalised: the sampler must start at N(c_T ξ, σ0² I)'})")
        if res.balanced_up_to_factor:
            print(f"matches the balanced schedule up to a factor {res.balanced_factor:.6g}")
        else:
            print("does not match the balanced schedule up to a constant factor")
        print(format_table(res, av, bv))
        if not res.consistent:
            k = T - 1
            print(f"consistent alternatives: (1) keep the input a_t and use the target b*_t (column ELBO b*_t; "
                  f"b*_T = {res.implied_phi[k].item():.6g}); (2) the balanced member with the same c_T = {res.c_T:.6g}: "
                  f"ψ_t = ϕ_t = c_T ψ^bal_t (ψ_T = {alt['psi_balanced'][k]:.6g})"
                  + ("" if suggest else "; --suggest-out FILE writes both as a table"))
    if suggest is not None:
        from ..coefficients import render
        write_output(suggest, render(alt, suggest_fmt), "--suggest-out")
    return 0 if res.consistent else 1


def register(sub) -> None:
    v = sub.add_parser("verify-offset", help="audit a trainer's offset-noise coefficients against the ELBO",
                       description="Decide whether a trainer's offset-noise input weights a_t and target weights "
                                   "b_t form an ELBO loss of the generalized model; exit 0 consistent, "
                                   "1 inconsistent, 2 unusable input.")
    add_schedule_options(v)
    v.add_argument("--input-coef", required=True, metavar="const:W|FILE[:COLUMN]",
                   help="ξ-weight a_t in the input noise: a constant, or a file of one value per step (a "
                        "coefficients table: its psi column)")
    v.add_argument("--target-coef", default=None, metavar="const:W|FILE[:COLUMN]",
                   help="ξ-weight b_t in the target (default: = input; a coefficients table: its phi column)")
    v.add_argument("--sigma0", type=sigma0, default=1.0, help="σ_0 (the condition does not depend on it)")
    v.add_argument("--rtol", type=fraction, default=1e-9, help="relative tolerance of the verdict, in (0, 1)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--suggest-out", metavar="FILE", default=None,
                   help="write the consistent alternatives as a table (.csv/.json/.npy): psi = the input, phi = its "
                        "ELBO target, psi_balanced = phi_balanced = the balanced member with the same c_T; - for stdout")
    v.set_defaults(func=_cmd_verify_offset)
