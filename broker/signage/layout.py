"""Lay one hour out: interleave each campaign's plays evenly, then fill with house content.

Every play gets an ideal position (j + 0.5) / n through the hour for the j-th of its campaign's
n plays (house plays likewise, as one more "campaign"); sorting by position (ties: fill order)
interleaves everybody, so a campaign's plays never bunch up unless it owns most of the hour.
The house play that would overrun the hour is cut to end it exactly and put last.

This is the hot path of compilation, so plays are small ints: a play is
`position << id_bits | play_id` (`play_id` indexes `plays`, numbered in fill order; keys stay
below 2**30 so sorting takes CPython's fast path). Runs of positioned plays are memoised per
(campaign, count, rotation) and per house fill; an hour is one sort of its concatenated runs
(Timsort merges presorted runs) and one pass keeping the running offset and picking items from
a cache keyed by (offset, play) - a flat list when the durations share a unit (whole seconds,
say), a dict otherwise. Items are built without re-validation: the arithmetic here guarantees
the `PlaylistHour` invariants (the tests check them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate, chain
from math import gcd

from content.playlist import HOUR_MS, Playlist, PlaylistHour, PlaylistItem

Info = tuple[str, int, str | None]  # (creative sha256, duration ms, campaign id or None)

_new = object.__new__
_set = object.__setattr__
_ITEM_FIELDS = frozenset(PlaylistItem.model_fields)
_HOUR_FIELDS = frozenset(PlaylistHour.model_fields)
_PLAYLIST_FIELDS = frozenset(Playlist.model_fields)


def _model(cls: type, fields: frozenset[str], values: dict) -> object:
    """A pydantic model instance from already-valid values (what model_construct does, faster)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", fields)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def make_item(offset: int, info: Info) -> PlaylistItem:
    sha, dur, cid = info
    return _model(PlaylistItem, _ITEM_FIELDS, {
        "offset_ms": offset, "duration_ms": dur, "creative": sha, "campaign_id": cid})


def make_hour(start_ms: int, items: list[PlaylistItem]) -> PlaylistHour:
    return _model(PlaylistHour, _HOUR_FIELDS, {"start_ms": start_ms, "items": items})


def make_playlist(hours: list[PlaylistHour]) -> Playlist:
    return Playlist.from_hours(hours)


_TABLE_LIMIT = 1 << 23


class Layout:
    """Memoised hour layouts over a fixed table of plays (one compilation)."""

    def __init__(self, plays: Sequence[Info]) -> None:
        self.plays = list(plays)
        self.id_bits = max(1, (len(self.plays) - 1).bit_length())
        self.id_mask = (1 << self.id_bits) - 1
        self.pos_bits = max(12, 30 - self.id_bits)
        self.key_bits = self.pos_bits + self.id_bits
        # An item is keyed (offset // unit) * len(plays) + play id; with a common unit of the
        # durations (usually whole seconds) the keys are dense enough for a flat list.
        self.unit = gcd(*(p[1] for p in self.plays)) or 1
        self.n = max(1, len(self.plays))
        self._scaled = [p[1] // self.unit * self.n for p in self.plays]  # by play id
        size = (HOUR_MS // self.unit + 1) * self.n
        self.table: list[PlaylistItem | None] | None = None
        if size <= _TABLE_LIMIT:
            self.table = [None] * size
        self.items: dict[int, PlaylistItem] = {}
        self.built = 0
        self._runs: dict[tuple, tuple[int, ...]] = {}
        self._house_seq: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self._house_keys: dict[tuple[int, int, int], tuple[int, ...]] = {}
        self._tails: dict[tuple[int, int], PlaylistItem] = {}

    def build(self, key: int) -> PlaylistItem:
        self.built += 1
        units, pid = divmod(key, self.n)
        return make_item(units * self.unit, self.plays[pid])

    def _keys(self, ids: Sequence[int], m: int) -> tuple[int, ...]:
        """Keys of plays `ids` as the j-th of m evenly spaced plays (j = their index)."""
        scale, shift = 1 << self.pos_bits, self.id_bits
        return tuple(((2 * j + 1) * scale // (2 * m)) << shift | pid for j, pid in enumerate(ids))

    def run(self, ids: Sequence[int], n: int, start: int) -> tuple[int, ...]:
        """n plays rotating through creatives `ids` (one campaign) from index `start`."""
        key = (id(ids), n, start)
        got = self._runs.get(key)
        if got is None:
            size = len(ids)
            got = self._runs[key] = self._keys([ids[(start + j) % size] for j in range(n)], n)
        return got

    def merged(self, runs: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(sorted(chain.from_iterable(runs)))

    def house(self, loop: Sequence[int], start: int, unsold: int
              ) -> tuple[tuple[int, ...], tuple[int, int]]:
        """House plays filling `unsold` ms from loop index `start`: (keys, (cut play, its ms))."""
        got = self._house_seq.get((id(loop), start))
        if got is None:
            seq: list[int] = []
            total, k = 0, start
            while total < HOUR_MS:
                pid = loop[k % len(loop)]
                seq.append(pid)
                total += self.plays[pid][1]
                k += 1
            got = self._house_seq[(id(loop), start)] = (
                seq, list(accumulate(self.plays[p][1] for p in seq)))
        seq, ends = got
        m = bisect_left(ends, unsold)  # plays ending strictly before the end of unsold time
        keys = self._house_keys.get((id(loop), start, m))
        if keys is None:
            keys = self._house_keys[(id(loop), start, m)] = self._keys(seq[:m], m + 1)
        return keys, (seq[m], unsold - (ends[m - 1] if m else 0))

    def hour_items(self, runs: Sequence[tuple[int, ...]], tail: tuple[int, int] | None
                   ) -> list[PlaylistItem]:
        """Items of an hour from its runs of play keys, plus the cut house play (id, ms)."""
        keys = list(chain.from_iterable(runs))
        keys.sort()
        mask, scaled, table = self.id_mask, self._scaled, self.table
        items: list[PlaylistItem] = []
        append = items.append
        offset = 0  # in units, times len(plays)
        # a plain loop beats chained C-level passes here: fewer temporary ints and lists
        if table is not None:
            for k in keys:
                pid = k & mask
                key = offset + pid
                item = table[key]
                if item is None:  # first use of this (offset, play)
                    item = table[key] = self.build(key)
                append(item)
                offset += scaled[pid]
        else:
            cache = self.items
            for k in keys:
                pid = k & mask
                key = offset + pid
                item = cache.get(key)
                if item is None:
                    item = cache[key] = self.build(key)
                append(item)
                offset += scaled[pid]
        if tail is not None:
            pid, ms = tail
            item = self._tails.get(tail)
            if item is None:
                sha, _, cid = self.plays[pid]
                item = self._tails[tail] = make_item(HOUR_MS - ms, (sha, ms, cid))
            append(item)
        return items
