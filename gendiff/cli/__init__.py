"""Command line entry: `gendiff derive | coefficients | verify-offset | report | experiment`.

Layer: cli — may import everything (core, experiments, integrations, derivations); nothing imports it.
Each sub-command lives in its own module with a ``register(sub)`` function; this module registers them
and applies the error policy of :mod:`gendiff.cli._common` (one line on stderr; exit 2 for unusable
input, 3 for a bug, 130 on Ctrl-C, 141 for a closed pipe; never a traceback).  Output encodes under any
locale: where stdout or stderr cannot encode a character (PYTHONIOENCODING=ascii, LC_ALL=POSIX), Greek
letters and symbols are written by their ASCII names (ξ → xi, ᾱ → alpha_bar, √ → sqrt, ≤ → <=).
"""
from __future__ import annotations

import codecs
import os
import sys

from .. import __version__
from ..errors import InputError
from . import brightness_check, coefficients, derive, experiment, report, verify_offset
from ._common import Parser, UsageError

SUBCOMMANDS = (derive, coefficients, verify_offset, report, experiment, brightness_check)
__all__ = ["UsageError", "build_parser", "main"]


ASCII_NAMES = {
    "ξ": "xi", "ψ": "psi", "ϕ": "phi", "φ": "phi", "γ": "gamma", "ᾱ": "alpha_bar", "α": "alpha", "β": "beta",
    "σ": "sigma", "λ": "lambda", "ε": "eps", "ϵ": "eps", "η": "eta", "μ": "mu", "Σ": "Sigma", "Π": "Pi", "θ": "theta",
    "τ": "tau", "√": "sqrt", "²": "^2", "⁻": "^-", "¹": "1", "₀": "0", "₁": "1", "ₜ": "t", "≤": "<=", "≥": ">=",
    "≠": "!=", "≈": "~", "→": "->", "←": "<-", "⇔": "<=>", "−": "-", "–": "-", "—": "-", "…": "...", "·": "*",
    "×": "x", "∀": "for all", "∞": "inf", "‖": "||", "“": '"', "”": '"', "‘": "'", "’": "'",
    "\u0303": "~", "\u0302": "^", "\u0304": "_bar",      # combining tilde, hat, macron (β̃, x̂)
}


def _ascii_names(err: UnicodeEncodeError):
    """Codec error handler: the ASCII name of each character the stream's encoding cannot write."""
    bad = err.object[err.start:err.end]
    return "".join(ASCII_NAMES.get(ch, f"\\u{ord(ch):04x}") for ch in bad), err.end


codecs.register_error("gendiff-ascii", _ascii_names)


def _safe_streams() -> None:
    """Characters stdout/stderr cannot encode fall back to ASCII names (the handler runs only on failure)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="gendiff-ascii")
        except (AttributeError, ValueError, OSError):      # not a TextIOWrapper (a test's capture, a closed stream)
            pass


def build_parser() -> Parser:
    p = Parser(prog="gendiff", description="The generalized diffusion model with adjusted offset noise: "
               "proofs, coefficient tables, offset-noise audits, reports and experiments. Exit codes: 0 success, "
               "1 a negative verdict, 2 unusable input, 3 a bug.")
    p.add_argument("--version", action="version", version=f"gendiff {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for mod in SUBCOMMANDS:
        mod.register(sub)
    return p


def main(argv=None) -> int:
    _safe_streams()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:                       # --help (0) or a bad argument (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    except KeyboardInterrupt:
        print("\ngendiff: interrupted", file=sys.stderr)
        return 130
    prog = f"gendiff {args.command}"
    try:
        return args.func(args)
    except InputError as e:                       # UsageError and every library input error
        print(f"{prog}: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                       # reader went away (`| head`): stop quietly, exit as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:                          # a path that cannot be read or written after all
        where = f"cannot use {e.filename!r}: " if e.filename else ""
        print(f"{prog}: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:                        # a bug: one line, the traceback on request
        if os.environ.get("GENDIFF_TRACEBACK"):
            raise
        print(f"{prog}: internal error: {type(e).__name__}: {e} (a bug; GENDIFF_TRACEBACK=1 shows the traceback)",
              file=sys.stderr)
        return 3
