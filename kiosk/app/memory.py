"""Keeping a terminal's memory flat over months of ads (glibc only; elsewhere a no-op).

Video decoding (ffpyplayer) and the image loaders allocate large frame buffers on their own
threads, and glibc gives each thread its own malloc arena: freed buffers end up scattered over
many arenas that are never handed back, and the RSS of a looping attract screen climbs for
minutes before it levels off. `limit_arenas` caps the arenas (the same as `MALLOC_ARENA_MAX`)
at app start, before the decoder threads exist; `trim` gives freed memory back to the system,
called when a video creative leaves the screen. bench/kiosk.py, 10-inch profile, 3 minutes
(33 minutes of playlist): without them 333 -> 377 MB (+13.4%); with them 314-320 -> 321-322 MB
(+0.2 to +2.5%).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # <malloc.h>


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc has both; musl and others do not
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas; True when it took effect."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_ARENA_MAX, arenas))
    if not ok:
        log.info("mallopt(M_ARENA_MAX, %d) was refused", arenas)
    return ok


def trim() -> bool:
    """Give the free memory at the top of the heaps back to the system; True if any was."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
