"""Atomic small-file writes: a reader sees the old file or the new one, never a torn one.

The text goes to a unique temporary name beside the target
(``.<name>.tmp-<pid>-<random>``, created exclusively), is fsynced, renamed
over the target, and the directory is fsynced. On any failure the temporary
file is removed and the ``OSError`` propagates for the caller to turn into a
one-line user error.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically; return the path."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(p.parent, os.O_RDONLY)
    except OSError:
        return p  # platforms without directory fds: the rename is still atomic
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return p


def write_json_atomic(path: str | os.PathLike, obj, *, allow_nan: bool = True) -> Path:
    """``obj`` as indented JSON plus a newline, written with :func:`write_text_atomic`."""
    return write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=allow_nan) + "\n")
