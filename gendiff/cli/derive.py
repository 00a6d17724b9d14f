"""`gendiff derive`: prove every derivation, emit or check the generated reference module.

Layer: cli — imports derivations and gendiff core.
"""
from __future__ import annotations

import json
import sys
import time

from ._common import UsageError, check_output_file, write_output


def _cmd_derive(args) -> int:
    if args.json is not None:
        if (args.check or args.emit) and not args.prove:
            raise UsageError("--json writes the proof summary, but --check/--emit without --prove runs no proofs: "
                             "add --prove, or drop --json")
        check_output_file(args.json, "--json")
    from derivations import MODULES, codegen

    if args.check or args.emit:
        if args.emit:
            path = codegen.write()
            print(f"wrote {path}")
        if args.check:
            if codegen.is_stale():
                print(f"STALE: {codegen.TARGET} differs from a fresh emission; run `{codegen.COMMAND}`",
                      file=sys.stderr)
                return 1
            print(f"generated code is up to date: {codegen.TARGET.name}")
        if not args.prove:
            return 0
    t0 = time.perf_counter()
    results = []
    w = max(len(k) for k in MODULES)
    print(f"{'result':<{w}} {'proved':<7} {'steps':>5} {'seconds':>8}  title")
    for key, mod in MODULES.items():
        r = mod.derive()
        results.append(r)
        print(f"{key:<{w}} {'yes' if r.proved else 'NO':<7} {len(r.steps):>5} {r.seconds:>8.2f}  {r.title}",
              flush=True)
        for name in r.failed_steps():
            print(f"    failed: {name}")
    total = time.perf_counter() - t0
    ok = all(r.proved for r in results)
    print(f"total: {total:.2f} s, {sum(len(r.steps) for r in results)} steps, "
          f"{'all proved' if ok else 'SOME PROOFS FAILED'}")
    if args.json:
        payload = {"proved": ok, "seconds": round(total, 3), "results": [r.summary() for r in results]}
        write_output(args.json, (json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n").encode(),
                     "--json")
    return 0 if ok else 1


def register(sub) -> None:
    d = sub.add_parser("derive", help="derive and prove every result; emit/check generated code",
                       description="Derive and prove every result with SymPy (exit 1 if a proof fails); emit or "
                                   "check the generated reference module gendiff/_reference.py.")
    d.add_argument("--json", metavar="FILE", help="write a machine-readable summary of the proofs (written "
                   "atomically; - for stdout, after the table)")
    d.add_argument("--emit", action="store_true", help="rewrite gendiff/_reference.py from the derivations")
    d.add_argument("--check", action="store_true", help="exit 1 if the committed generated code is stale")
    d.add_argument("--prove", action="store_true", help="with --emit/--check: also run the proofs")
    d.set_defaults(func=_cmd_derive)
