"""`gendiff verify-offset`: audit a trainer's offset-noise coefficients against the ELBO [result 'offset'].

--input-coef/--target-coef take const:W, a file of one value per step, or a table written by
`gendiff coefficients` (its `psi` column for the input, its `phi` column for the target; FILE:NAME picks
another).  Exit 0 consistent, 1 inconsistent, 2 unusable input.

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import json
import math
import sys

from ._common import UsageError, fraction, option, schedule, sigma0, steps


def _parse_coef(spec: str, opt: str, column: str):
    from ..schedules import load_array
    if spec.startswith("const:"):
        try:
            w = float(spec[6:])
        except ValueError:
            raise UsageError(f"{opt}: cannot read a number from {spec!r} (use const:W with a finite W)") from None
        if not math.isfinite(w):
            raise UsageError(f"{opt}: {spec!r} is not finite (use const:W with a finite W)")
        return w
    with option(opt):
        return load_array(spec, what=f"{'input' if opt == '--input-coef' else 'target'} coefficient",
                          default_column=column)


def _cmd_verify_offset(args) -> int:
    from ..audit import audit, format_table
    from ..schedules import terminal_snr_problem
    beta = schedule(args.schedule, args.T)
    a = _parse_coef(args.input_coef, "--input-coef", "psi")
    b = None if args.target_coef is None else _parse_coef(args.target_coef, "--target-coef", "phi")
    problem = terminal_snr_problem(beta)
    if problem:
        raise UsageError(f"--schedule {args.schedule}: {problem}; the audit needs ᾱ_T > 0 (the balanced reference "
                         "and the ε-target weights are undefined otherwise)")
    res = audit(beta, a, b, rtol=args.rtol, names=("--input-coef", "--target-coef"))
    import torch
    T = beta.shape[0]
    av = torch.as_tensor(a, dtype=torch.float64).reshape(-1).expand(T)
    bv = av if b is None else torch.as_tensor(b, dtype=torch.float64).reshape(-1).expand(T)
    if args.json:
        payload = {"schedule": str(args.schedule), "T": T, "sigma0": args.sigma0, **res.to_json()}
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
    return 0 if res.consistent else 1


def register(sub) -> None:
    v = sub.add_parser("verify-offset", help="audit a trainer's offset-noise coefficients against the ELBO")
    v.add_argument("--schedule", default="linear", help="linear | scaled_linear | cosine | FILE[:NAME] of β_t")
    v.add_argument("--T", type=steps, default=None, help="number of steps (default 1000; a file schedule sets it)")
    v.add_argument("--input-coef", required=True,
                   help="const:W, FILE or FILE:NAME: ξ-weight a_t in the input noise (a coefficients table: psi)")
    v.add_argument("--target-coef", default=None,
                   help="const:W, FILE or FILE:NAME: ξ-weight b_t in the target (default: = input; a table: phi)")
    v.add_argument("--sigma0", type=sigma0, default=1.0, help="σ_0 (the condition does not depend on it)")
    v.add_argument("--rtol", type=fraction, default=1e-9, help="relative tolerance of the verdict, in (0, 1)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=_cmd_verify_offset)
