"""Atomic file writes that never destroy what they replace.

The write policy, one rule for every file gendiff writes:

- The data go to a temp file in the target's folder, which is then renamed over the target, so readers
  never see half a file and a failed write leaves the old file as it was (no temp file, no new empty folder).
- Only a regular file or a missing file can be a target.  A device, a FIFO, a socket or a folder is refused
  before anything is written (:class:`UnwritableTarget`): a rename would replace the node itself, so a copy
  of /dev/null or /dev/full would silently become a regular file.  Write through is not offered: it cannot be
  atomic.  (`gendiff --out -` writes to stdout instead.)
- A symbolic link is followed: its final target is the file written (atomically, in the target's folder), and
  the link stays a link.  A link whose target is missing creates that target.
- Every OSError raised while writing names the file the caller asked for (`OSError.filename`), not the temp file.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


class UnwritableTarget(InputError):
    """The output path exists but is not a regular file (a device, FIFO, socket or folder)."""


def resolve_target(path) -> Path:
    """The file a write to `path` replaces: `path` itself, or the final target of a symbolic link.

    Refuses (UnwritableTarget) a path that exists and is not a regular file, naming what it is.
    """
    p = Path(path)
    try:
        st = os.stat(p)                       # follows links: what a write would reach
    except (FileNotFoundError, NotADirectoryError):   # missing (a file under a file is refused by the caller)
        st = None
    except OSError as e:                      # e.g. a name too long, a loop of links, a file used as a folder
        raise OSError(e.errno, e.strerror, str(p)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        via = f" (a link to {os.path.realpath(p)!r})" if p.is_symlink() else ""
        raise UnwritableTarget(f"{str(p)!r}{via} is {kind}, not a regular file: gendiff writes files atomically "
                               "(a new file renamed over the old one), which would replace it; give a regular "
                               "file's name, or - for stdout")
    if p.is_symlink():
        return Path(os.path.realpath(p))
    return p


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write `data` to `path` as the module docstring says; returns the file written (a link's target)."""
    asked = str(path)
    path = resolve_target(path)
    created = []
    q = path.parent
    while not q.exists() and q != q.parent:
        created.append(q)
        q = q.parent
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        _remove_empty(created)
        if isinstance(e, OSError) and not isinstance(e, InputError):
            raise OSError(e.errno, e.strerror or str(e), asked) from None
        raise
    return path


def _remove_empty(folders) -> None:
    for q in folders:                      # innermost first
        try:
            q.rmdir()
        except OSError:
            return


def write_text_atomic(path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))
