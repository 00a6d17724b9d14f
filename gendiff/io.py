"""Atomic file writes: a temp file in the same folder, then rename, so readers never see half a file.

Layer: core — imports only third-party numerics and other core modules; never experiments, integrations or cli.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write `data` to `path` via a temp file and rename; on any failure, no temp file and no new empty folder."""
    path = Path(path)
    created = []
    q = path.parent
    while not q.exists() and q != q.parent:
        created.append(q)
        q = q.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except BaseException:
        _remove_empty(created)
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _remove_empty(created)
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
