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
import sys
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


def check_output_file(path, opt: str) -> Path | str:
    """Refuse, before any work, an output file that cannot be written (missing folders are created later).

    `-` means stdout.  A device, FIFO, socket or folder is refused (gendiff.io's write policy); a symbolic
    link is checked at its target.
    """
    from ..io import UnwritableTarget, resolve_target
    if str(path) == "-":
        return "-"
    p = Path(path)
    if str(path) == "":
        raise UsageError(f"{opt}: the file name is empty")
    try:
        if p.is_dir():
            raise UsageError(f"{opt} {str(p)!r} is a folder: give a file name")
        target = resolve_target(p)
    except UnwritableTarget as e:
        raise UsageError(f"{opt} {e}") from None
    except OSError as e:
        raise UsageError(f"{opt} {str(p)!r}: {e.strerror or e}") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{opt} {str(p)!r}: the file is not writable")
    _check_parent(target.parent, p, opt)
    return p


def write_output(path, data: bytes, opt: str) -> None:
    """Write `data` to the file `path` atomically (gendiff.io), or to stdout for `-`; errors name opt and file."""
    from ..io import UnwritableTarget, write_bytes_atomic
    if str(path) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        write_bytes_atomic(path, data)
    except UnwritableTarget as e:
        raise UsageError(f"{opt} {e}") from None
    except OSError as e:
        raise UsageError(f"{opt} {str(path)!r}: cannot write the file: {e.strerror or e}") from None


SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".json": "json", ".npy": "npy"}


def output_format(out, fmt: str | None, opt: str = "--out") -> str:
    """One format rule: the suffix of `out` names the format (readers use the same rule); --format may repeat it.

    No `out` (or `-`): --format, default csv.  A suffix that is not .csv/.txt/.json/.npy, or that contradicts
    --format, is refused: gendiff could not read the file back.
    """
    if out is None or str(out) == "-":
        return fmt or "csv"
    suffix = Path(out).suffix
    named = SUFFIX_FORMATS.get(suffix)
    if named is None:
        raise UsageError(f"{opt} {str(out)!r}: the suffix {suffix or '(none)'!s} names no format; name the file "
                         ".csv, .json or .npy (the suffix names the format, for writing and reading)")
    if fmt is not None and fmt != named:
        raise UsageError(f"{opt} {str(out)!r} names a {named} file, but --format {fmt} was given: drop --format "
                         "(the suffix names the format) or change the suffix")
    return named


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


def unit_beta(text: str) -> float:
    """A β value in (0, 1]."""
    v = finite_float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text!r}")
    return v


def add_schedule_options(parser) -> None:
    """--schedule, --T, --beta-start, --beta-end, --zero-snr: every command that takes a schedule uses these."""
    parser.add_argument("--schedule", default="linear", metavar="NAME|FILE[:COLUMN]",
                        help="linear, scaled_linear, cosine, or a .npy/.csv/.txt/.json file of β_t (a table written "
                             "by `gendiff coefficients` gives its beta column); default linear")
    parser.add_argument("--T", type=steps, default=None,
                        help=f"number of steps, 1..{MAX_T} (default 1000; a file schedule sets it, --T may only "
                             "repeat its length)")
    parser.add_argument("--beta-start", type=unit_beta, default=None, metavar="B",
                        help="β_1 of linear/scaled_linear, in (0, 1] (default 1e-4 resp. 0.00085, as diffusers)")
    parser.add_argument("--beta-end", type=unit_beta, default=None, metavar="B",
                        help="β_T of linear/scaled_linear, in (0, 1] (default 0.02 resp. 0.012, as diffusers)")
    parser.add_argument("--zero-snr", action="store_true",
                        help="rescale the schedule to zero terminal SNR, ᾱ_T = 0 (Lin et al. 2024, as diffusers' "
                             "rescale_betas_zero_snr)")


def schedule_name(args) -> str:
    """The schedule as the user gave it, for messages: '--schedule linear --beta-end 0.03 --zero-snr'."""
    parts = [f"--schedule {args.schedule}"]
    for opt, v in (("--T", args.T), ("--beta-start", args.beta_start), ("--beta-end", args.beta_end)):
        if v is not None:
            parts.append(f"{opt} {v:g}")
    return " ".join(parts + (["--zero-snr"] if args.zero_snr else []))


def schedule_from_args(args):
    """β from the options of add_schedule_options: a name with T (default 1000) and its β range, or a file
    whose length --T may only confirm; --zero-snr rescales the result."""
    from ..schedules import NAMES, make_beta, rescale_zero_terminal_snr
    spec, T = args.schedule, args.T
    ranged = [o for o, v in (("--beta-start", args.beta_start), ("--beta-end", args.beta_end)) if v is not None]
    if ranged and spec not in ("linear", "scaled_linear"):
        raise UsageError(f"{' and '.join(ranged)} set{'s' if len(ranged) == 1 else ''} the β range of --schedule linear or scaled_linear, "
                         f"not of {spec!r}")
    with option("--schedule"):
        if spec in NAMES:
            beta = make_beta(spec, 1000 if T is None else T, beta_start=args.beta_start, beta_end=args.beta_end)
        else:
            beta = make_beta(spec)
    if spec not in NAMES and T is not None and T != beta.shape[0]:
        raise UsageError(f"--T {T} contradicts --schedule {spec!r}, which holds {beta.shape[0]} steps: "
                         "omit --T with a file schedule, or give its length")
    if args.zero_snr:
        with option("--zero-snr"):
            beta = rescale_zero_terminal_snr(beta)
    return beta


def schedule(spec: str, T: int | None):
    """β from --schedule and --T alone, for a command without the other options of add_schedule_options."""
    return schedule_from_args(argparse.Namespace(schedule=spec, T=T, beta_start=None, beta_end=None, zero_snr=False))


def check_table_schedule(table_beta, beta, opt: str, spec: str, args) -> None:
    """A coefficient table's own beta column must be the schedule in use: else refuse, naming both."""
    import torch
    if table_beta is None:
        return
    if table_beta.shape == beta.shape and torch.allclose(table_beta, beta, rtol=1e-9, atol=0):
        return

    def desc(b):
        return f"T = {b.shape[0]}, β_1 = {b[0].item():.6g}, β_T = {b[-1].item():.6g}"
    raise UsageError(f"{opt} {spec!r} is a table made for another schedule: its beta column ({desc(table_beta)}) "
                     f"differs from {schedule_name(args)} ({desc(beta)}); give the schedule it was made for "
                     f"(--schedule can read the table itself)")
