"""Streaming sha256 of content files, with progress for long hashes (pure apart from reading).

Files are read in 1 MiB chunks so a 2 GiB video never sits in memory; `progress` is called after
every chunk with the number of bytes hashed so far (cumulative, for this file).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

CHUNK_BYTES = 1024 * 1024
Progress = Callable[[int], None]


def hash_file(path: str | os.PathLike[str], *, progress: Progress | None = None) -> tuple[str, int]:
    """Return (sha256 hex, size) of the bytes actually read, so both describe the same content."""
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        buf = bytearray(CHUNK_BYTES)
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
            done += n
            if progress is not None:
                progress(done)
    return digest.hexdigest(), done


def sha256_file(path: str | os.PathLike[str], *, progress: Progress | None = None) -> str:
    """The sha256 (lowercase hex) of a file, read in 1 MiB chunks."""
    return hash_file(path, progress=progress)[0]


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
