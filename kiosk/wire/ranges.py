"""Compact inclusive seq ranges for acknowledgements (pure)."""

from __future__ import annotations

from collections.abc import Iterable


def to_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]; input may be unsorted or repeat."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def in_ranges(seq: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(lo <= seq <= hi for lo, hi in ranges)
