"""The app's glibc memory settings: they take effect here (Debian, glibc) and never raise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kiosk.app import memory

# In a fresh process: the test process's heap already has free space that would be reused.
PROBE = """
import json, psutil
from kiosk.app import memory
me = psutil.Process()
capped = memory.limit_arenas(2)
base = me.memory_info().rss
blocks = [bytes(2000) for _ in range(60_000)]  # ~120 MB of small heap blocks
grown = me.memory_info().rss - base
last = blocks[-1]  # still in use at the top of the heap: the heap cannot just shrink
del blocks
kept = me.memory_info().rss - base  # freed, but still held by the heap
trimmed = memory.trim()
after = me.memory_info().rss - base
print(json.dumps([capped, grown, kept, trimmed, after, len(last)]))
"""


def test_arenas_are_capped_and_freed_heap_memory_is_given_back() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    capped, grown, kept, trimmed, after, _ = json.loads(out.stdout)
    assert capped and trimmed  # glibc (Debian): both took effect
    mb = 2**20
    assert grown > 100 * mb and kept > 100 * mb  # freed blocks stay in the process...
    assert after < kept - 50 * mb, (grown, kept, after)  # ...until trimmed


def test_without_glibc_both_are_harmless_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.limit_arenas() is False and memory.trim() is False
