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
    r = sub.add_parser("report", help="regenerate everything under reports/ from committed results (no training)")
    r.add_argument("--out", type=nonempty, default="reports", help="the reports folder (default: reports)")
    r.add_argument("--full", action="store_true", help="20 000 instead of 4 000 Monte Carlo samples per seed")
    r.add_argument("--no-experiments", action="store_true",
                   help="skip re-rendering the experiment folders under OUT/experiments/")
    r.set_defaults(func=_cmd_report)
