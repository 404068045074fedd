"""Sets as Python ints: bit i set means member i is in the set (C-speed unions/intersections)."""

from __future__ import annotations

from collections.abc import Iterable


def bit_positions(mask: int) -> list[int]:
    """Indexes of the set bits of `mask`, ascending."""
    digits = bin(mask)[:1:-1]
    out: list[int] = []
    i = digits.find("1")
    while i >= 0:
        out.append(i)
        i = digits.find("1", i + 1)
    return out


def bits_of(positions: Iterable[int], size: int) -> int:
    """The set of `positions` (all below `size`) as an int."""
    buf = bytearray((size + 8) // 8)
    for p in positions:
        buf[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(buf, "little")
