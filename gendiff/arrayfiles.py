"""Reading per-step arrays and coefficient tables from files: one format rule for every reader.

The suffix names the format, for reading and for writing (`gendiff coefficients` picks its format from
`--out`'s suffix): `.npy` (numpy's format, read with allow_pickle=False: a plain 1-D array or the structured
array `gendiff coefficients` writes), `.csv`/`.txt` (one number per line, one comma-separated row, or a table
with a header line), `.json` (a list of numbers, or an object of equal-length lists: the table
`gendiff coefficients --format json` writes).  Text is UTF-8; a byte-order mark (Excel's "CSV UTF-8") is ignored.
A file whose content is not what its suffix says is refused, saying what it holds.

`FILE:NAME` picks column NAME of a table; each caller has a default column (`beta` for a schedule, `psi`
for an input coefficient, `phi` for a target coefficient).  :func:`read_column` also returns the table's own
`beta` column, so callers can check it against the schedule in use.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

FILE_SUFFIXES = (".npy", ".csv", ".txt", ".json")
NPY_MAGIC = b"\x93NUMPY"


class ArrayFileError(InputError):
    """A file that cannot be read as a per-step array or coefficient table."""


def split_spec(spec) -> tuple[Path, str | None]:
    """'FILE' -> (FILE, None); 'FILE:NAME' -> (FILE, NAME) when FILE ends in a known suffix."""
    text = str(spec)
    path = Path(text)
    if path.suffix in FILE_SUFFIXES or _is_file(path):
        return path, None
    head, sep, name = text.rpartition(":")
    if sep and name and Path(head).suffix in FILE_SUFFIXES:
        return Path(head), name
    return path, None


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:                       # a name too long for the file system is no file
        return False


def is_number(token: str) -> bool:
    """Whether `token` reads as a float (a number where a file name or spec was expected)."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def _kind_of(raw: bytes) -> str:
    """What a file's first bytes look like, for 'not what its name says' messages."""
    if raw.startswith(NPY_MAGIC):
        return "a .npy array"
    if raw[:2] == b"PK":
        return "a zip archive (.npz?)"
    head = raw[:200].lstrip(b"\xef\xbb\xbf").lstrip()
    if head[:1] in (b"{", b"["):
        return "JSON text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    first = head.decode("utf-8", "replace").splitlines()[0][:40] if head else ""
    return f"text (starting {first!r}; a .csv/.txt file?)"


def _text(raw: bytes, p: Path) -> str:
    if raw.startswith(NPY_MAGIC) or b"\x00" in raw[:1024]:
        raise ArrayFileError(f"it holds {_kind_of(raw)}, not {p.suffix} text: name the file after its format")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArrayFileError(f"it is not UTF-8 text ({e.reason} at byte {e.start})") from None


def _read_text_table(text: str) -> tuple[list[str] | None, np.ndarray]:
    """(header or None, values): one number per line, one row, or a table with a header line."""
    rows = [line.replace(",", " ").split() for line in text.splitlines()]
    rows = [r for r in rows if r and not r[0].startswith("#")]
    if not rows:
        raise ArrayFileError("it holds no numbers")
    names = None
    if not any(is_number(x) for x in rows[0]):
        names, rows = rows[0], rows[1:]
        if not rows:
            raise ArrayFileError(f"it has a header ({', '.join(names)}) but no rows")
    for r in rows:
        for x in r:
            if not is_number(x):
                raise ArrayFileError(f"{x!r} is not a real number")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or (names is not None and widths != {len(names)}):
        raise ArrayFileError("its rows have different numbers of entries")
    a = np.array([[float(x) for x in r] for r in rows], dtype=np.float64)
    if names is None and a.shape[1] == 1:
        a = a[:, 0]
    elif names is None and a.shape[0] == 1:
        a = a[0]
    return names, a


def _no_constant(name: str):
    raise ArrayFileError(f"it holds {name}, which strict JSON does not allow; give finite numbers")


def _read_json(text: str):
    """(None, array) for a list; (names, {name: array}) for an object of equal-length lists."""
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ArrayFileError(f"it is not valid JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(obj, dict):
        cols = {}
        for k, v in obj.items():
            try:
                cols[k] = np.asarray(v)
            except ValueError:
                raise ArrayFileError(f"its entry {k!r} is not a list of numbers") from None
        if len({c.shape for c in cols.values()}) > 1:
            raise ArrayFileError("its columns have different lengths")
        return list(cols), cols
    if isinstance(obj, list):
        try:
            return None, np.asarray(obj)
        except ValueError:
            raise ArrayFileError("its list is ragged (rows of different lengths)") from None
    raise ArrayFileError(f"it holds a JSON {type(obj).__name__}; give a list of numbers or an object of lists")


def _load(p: Path):
    """(names or None, data): data is an array, a structured array or a dict of columns."""
    raw = p.read_bytes()
    if p.suffix == ".npy":
        if not raw.startswith(NPY_MAGIC):
            raise ArrayFileError(f"it is not a .npy file: it holds {_kind_of(raw)}; name the file after its format")
        import io
        try:
            a = np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e):
                raise ArrayFileError("it holds Python objects (pickled data), which gendiff never loads; "
                                     "save plain numbers") from None
            raise ArrayFileError(str(e) or "not a valid .npy file") from None
        except (OSError, EOFError) as e:
            raise ArrayFileError(str(e) or type(e).__name__) from None
        return (list(a.dtype.names) if a.dtype.names else None), a
    text = _text(raw, p)
    if p.suffix == ".json":
        return _read_json(text)
    if text.lstrip()[:1] in ("{", "["):
        raise ArrayFileError(f"it holds JSON text, not {p.suffix} text: name the file .json")
    return _read_text_table(text)


def read_column(spec, *, what: str = "array", default_column: str | None = None):
    """(values, beta): the 1-D float64 array at FILE or FILE:NAME, and the table's `beta` column (or None).

    Refuses (ArrayFileError) missing or unreadable files, content that is not what the suffix says,
    arrays that are not 1-D, and values that are not real numbers (complex, boolean, text).
    """
    p, column = split_spec(spec)

    def fail(why: str):
        raise ArrayFileError(f"cannot read {what} file {str(p)!r}: {why}")
    if p.suffix not in FILE_SUFFIXES:
        fail(f"use a {', '.join(FILE_SUFFIXES[:-1])} or {FILE_SUFFIXES[-1]} file (the suffix names the format)")
    try:
        if not p.exists():
            fail("no such file")
        if not p.is_file():
            fail("it is not a regular file")
        names, data = _load(p)
    except ArrayFileError as e:
        if str(e).startswith("cannot read"):
            raise
        fail(str(e))
    except OSError as e:
        fail(e.strerror or str(e))
    beta = None
    if names is not None:
        col = column or default_column
        if col is None:
            fail(f"it is a table (columns {', '.join(names)}): pick one with {p}:NAME")
        if col not in names:
            fail(f"it has no column {col!r} (columns: {', '.join(names)}); pick one with {p}:NAME")

        def get(name):
            return data[name] if isinstance(data, dict) or data.dtype.names else data[:, names.index(name)]
        a = get(col)
        beta = get("beta") if "beta" in names and col != "beta" else None
    elif column is not None:
        fail(f"it holds a plain array, not a table with columns: drop ':{column}'")
    else:
        a = data
    for arr in (a, beta):
        if arr is not None and arr.dtype.kind not in "iuf":
            fail(f"it holds {arr.dtype} values; only real numbers are allowed")
    if a.ndim != 1:
        fail(f"it holds an array of shape {a.shape}; give one value per step (a 1-D array), "
             "or a table written by `gendiff coefficients` and FILE:NAME for its column NAME")
    as_t = (lambda x: None if x is None else torch.from_numpy(np.array(x, dtype=np.float64)))
    return as_t(a), as_t(beta)


def load_array(spec, *, what: str = "array", default_column: str | None = None) -> torch.Tensor:
    """The 1-D float64 array at FILE or FILE:NAME (see :func:`read_column`)."""
    return read_column(spec, what=what, default_column=default_column)[0]
