"""Crash-safe file replacement shared by both sides (no third-party code, no I/O beyond it).

`atomic_write` writes to a temporary name in the same folder, fsyncs it, renames it over the
target and fsyncs the folder: after a crash the path holds the old bytes or the new ones,
never a mix, and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, tmp: Path | None = None) -> None:
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
