"""Command line entry: ``gendiff derive | coefficients | verify-offset | report | experiment``.

Layer: cli — may import everything (core, experiments, integrations, derivations); nothing imports it.
Each sub-command lives in its own module with a ``register(sub)`` function; this module registers them.
"""
from __future__ import annotations

import argparse
import sys

from . import coefficients, derive, experiment, report, verify_offset

SUBCOMMANDS = (derive, coefficients, verify_offset, report, experiment)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gendiff", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for mod in SUBCOMMANDS:
        mod.register(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:            # reader went away (`| head`): stop quietly, exit as SIGPIPE would
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
