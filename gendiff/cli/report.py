"""`gendiff report`: regenerate everything under reports/.

Layer: cli — imports gendiff.experiments (lazily, so `gendiff --help` stays fast).
"""
from __future__ import annotations

from ._common import check_output_dir, nonempty


def _cmd_report(args) -> int:
    check_output_dir(args.out, "--out")
    from ..experiments.report import run
    return run(args)


def register(sub) -> None:
    r = sub.add_parser("report", help="regenerate everything under reports/")
    r.add_argument("--out", type=nonempty, default="reports")
    r.add_argument("--full", action="store_true", help="more Monte Carlo samples and the full experiment profile")
    r.add_argument("--no-experiments", action="store_true", help="skip the quick experiment run")
    r.set_defaults(func=_cmd_report)
