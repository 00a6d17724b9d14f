"""The command line's policy for bad input, shared by every sub-command.

| exit | meaning                                                                                   |
|------|-------------------------------------------------------------------------------------------|
| 0    | success                                                                                   |
| 1    | a negative verdict: inconsistent (verify-offset), proof failed or generated code stale (derive) |
| 2    | unusable input: a bad value, an unreadable or unwritable path, an unavailable device, a corrupt run file |
| 3    | internal error (a bug): one line; GENDIFF_TRACEBACK=1 shows the traceback                 |
| 130  | interrupted (Ctrl-C)                                                                      |
| 141  | the reader of stdout went away (`| head`)                                                 |

Errors are one line on stderr, `gendiff <command>: <what was wrong and what is allowed>`, naming the
option or file.  Output paths are checked before any long work starts; argument types below refuse bad
values at parse time (argparse names the option).

Layer: cli — imports gendiff core; the other cli modules import it.
"""
from __future__ import annotations

import argparse
import math
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError

MAX_T = 1_000_000


class UsageError(InputError):
    """Bad command-line input; the message names the option or file, what was wrong and what is allowed."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `gendiff <cmd>: <message> (see --help)`, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


@contextmanager
def option(name: str):
    """Re-raise library input errors (and ValueError from argument checks) as UsageError naming `name`."""
    try:
        yield
    except UsageError:
        raise
    except ValueError as e:
        raise UsageError(f"{name}: {e}") from None


# --- argument types (argparse reports "argument --X: <message>") -------------------------------------------

def _int_in(text: str, lo: int, hi: int | None) -> int:
    """An integer in lo..hi (hi None: no upper bound), else an argparse error saying what is allowed."""
    allowed = f"an integer in {lo}..{hi}" if hi is not None else f"an integer >= {lo}"
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
    if v < lo or hi is not None and v > hi:
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {v}")
    return v


def steps(text: str) -> int:
    """T: an integer in 1..MAX_T."""
    return _int_in(text, 1, MAX_T)


def positive_int(text: str) -> int:
    return _int_in(text, 1, None)


def finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def positive_float(text: str) -> float:
    v = finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return v


def sigma0(text: str) -> float:
    """σ_0 within gendiff.tables.SIGMA0_RANGE (σ_0² and the ELBO weights stay finite in float64)."""
    from ..tables import SIGMA0_RANGE
    v = finite_float(text)
    lo, hi = SIGMA0_RANGE
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"must lie in [{lo:g}, {hi:g}] (σ_0² and the ELBO weights must stay "
                                         f"finite in float64), got {text!r}")
    return v


def fraction(text: str) -> float:
    """A tolerance in the open interval (0, 1)."""
    v = finite_float(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1), got {text!r}")
    return v


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def name_list(text: str) -> list[str]:
    """A comma-separated list of at least one non-empty entry."""
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list without empty entries, got {text!r}")
    return items


# --- paths ----------------------------------------------------------------------------------------------

def _nearest_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def check_output_file(path, opt: str) -> Path:
    """Refuse, before any work, an output file that cannot be written (missing folders are created later)."""
    p = Path(path)
    if str(path) == "":
        raise UsageError(f"{opt}: the file name is empty")
    if p.is_dir():
        raise UsageError(f"{opt} {str(p)!r} is a folder: give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{opt} {str(p)!r}: the file is not writable")
    _check_parent(p.parent, p, opt)
    return p


def check_output_dir(path, opt: str) -> Path:
    """Refuse, before any work, an output folder that cannot be created or written to."""
    p = Path(path)
    if str(path) == "":
        raise UsageError(f"{opt}: the folder name is empty")
    if p.exists() and not p.is_dir():
        raise UsageError(f"{opt} {str(p)!r} is a file, not a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"{opt} {str(p)!r}: the folder is not writable")
        return p
    _check_parent(p, p, opt)
    return p


def _check_parent(folder: Path, target: Path, opt: str) -> None:
    base = _nearest_existing(Path(os.path.abspath(folder)))
    if not base.is_dir():
        raise UsageError(f"{opt} {str(target)!r}: {str(base)!r} is a file, so no folder can be created under it")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{opt} {str(target)!r}: the folder {str(base)!r} is not writable")


def schedule(spec: str, T: int | None):
    """β from --schedule and --T: a name with T (default 1000), or a file whose length --T may only confirm."""
    from ..schedules import NAMES, make_beta
    with option("--schedule"):
        if spec in NAMES:
            return make_beta(spec, 1000 if T is None else T)
        beta = make_beta(spec)
    if T is not None and T != beta.shape[0]:
        raise UsageError(f"--T {T} contradicts --schedule {spec!r}, which holds {beta.shape[0]} steps: "
                         "omit --T with a file schedule, or give its length")
    return beta
