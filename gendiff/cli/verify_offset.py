"""`gendiff verify-offset`: audit a trainer's offset-noise coefficients against the ELBO [result 'offset'].

Layer: cli — imports gendiff core.
"""
from __future__ import annotations

import json
import sys


def _parse_coef(spec: str, what: str):
    from ..schedules import load_array
    if spec.startswith("const:"):
        try:
            return float(spec[6:])
        except ValueError:
            raise ValueError(f"{what}: cannot read a number from {spec!r} (use const:W)") from None
    return load_array(spec, what=what)


def _cmd_verify_offset(args) -> int:
    from ..audit import AuditInputError, audit, format_table
    from ..schedules import ScheduleError, make_beta
    try:
        beta = make_beta(args.schedule, args.T)
        a = _parse_coef(args.input_coef, "input coefficient")
        b = None if args.target_coef is None else _parse_coef(args.target_coef, "target coefficient")
        if args.sigma0 is not None and not args.sigma0 > 0:
            raise AuditInputError(f"--sigma0 must be > 0, got {args.sigma0}")
        res = audit(beta, a, b, rtol=args.rtol)
    except (ScheduleError, AuditInputError, ValueError) as e:
        print(f"gendiff verify-offset: unusable input: {e}", file=sys.stderr)
        return 2
    import torch
    T = beta.shape[0]
    av = torch.as_tensor(a, dtype=torch.float64).reshape(-1).expand(T)
    bv = av if b is None else torch.as_tensor(b, dtype=torch.float64).reshape(-1).expand(T)
    if args.json:
        payload = {"schedule": str(args.schedule), "T": T, "sigma0": args.sigma0, **res.to_json()}
        print(json.dumps(payload, indent=2))
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
    v.add_argument("--schedule", default="linear", help="linear | scaled_linear | cosine | FILE of β_t")
    v.add_argument("--T", type=int, default=1000)
    v.add_argument("--input-coef", required=True, help="const:W or FILE: ξ-weight a_t in the input noise")
    v.add_argument("--target-coef", default=None, help="const:W or FILE: ξ-weight b_t in the target (default: = input)")
    v.add_argument("--sigma0", type=float, default=1.0, help="σ_0 (the condition does not depend on it)")
    v.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of the verdict")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=_cmd_verify_offset)
