"""The playlist a terminal plays: one loop per wall-clock hour (pure, no I/O).

A playlist is a list of hours; each hour holds items at fixed offsets from the hour's start,
back to back, filling the hour. Every terminal of a store with the same screen plays the same
items at the same instant, so what played is predictable from the playlist alone (preview and
proof-of-play use the same arithmetic). Times are UTC epoch milliseconds; an "hour" is a UTC
hour (store timezones only matter when the scheduler decides dayparts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_serializer, model_validator

HOUR_MS = 3_600_000
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CampaignId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaylistItem(_Frozen):
    """One play: `creative` (a file's sha256) from `offset_ms` for `duration_ms`.

    `campaign_id` is None for house content (unsold time).
    """

    offset_ms: Annotated[int, Field(ge=0, lt=HOUR_MS)]
    duration_ms: Annotated[int, Field(ge=1, le=HOUR_MS)]
    creative: Sha256
    campaign_id: CampaignId | None = None


class PlaylistHour(_Frozen):
    start_ms: Annotated[int, Field(ge=0)]
    items: list[PlaylistItem]

    @model_validator(mode="after")
    def _contiguous(self) -> PlaylistHour:
        if self.start_ms % HOUR_MS:
            raise ValueError("start_ms must be on a UTC hour")
        at = 0
        for item in self.items:
            if item.offset_ms != at:
                raise ValueError(f"item at {item.offset_ms} ms: gap or overlap (expected {at})")
            at += item.duration_ms
        if at > HOUR_MS:
            raise ValueError(f"items run {at - HOUR_MS} ms past the hour")
        return self


class Play(_Frozen):
    """One item placed on the timeline (what `plays_between` yields)."""

    start_ms: int
    end_ms: int
    creative: str
    campaign_id: str | None


_LOOPS = TypeAdapter(list[list[PlaylistItem]])
MAX_LOOPS = 10_000


class Playlist(_Frozen):
    """Hours in order. On the wire, hours with the same items share one "loop":
    `{"loops": [[item, ...], ...], "hours": [{"start_ms": …, "loop": i}, ...]}`, so a day of
    identical hours costs one hour of JSON to send, parse and sign."""

    hours: list[PlaylistHour]

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if not (isinstance(data, dict) and "loops" in data):
            return data
        if set(data) != {"loops", "hours"} or not isinstance(data["hours"], list):
            raise ValueError("a compact playlist has exactly 'loops' and 'hours'")
        if isinstance(data["loops"], list) and len(data["loops"]) > MAX_LOOPS:
            raise ValueError(f"more than {MAX_LOOPS} loops")
        loops = _LOOPS.validate_python(data["loops"])
        hours = []
        for ref in data["hours"]:
            if not (isinstance(ref, dict) and set(ref) == {"start_ms", "loop"}
                    and type(ref["loop"]) is int and 0 <= ref["loop"] < len(loops)):
                raise ValueError(f"bad hour reference {str(ref)[:80]}")
            hours.append(PlaylistHour(start_ms=ref["start_ms"], items=loops[ref["loop"]]))
        return {"hours": hours}

    @model_serializer(mode="plain")
    def _compact(self) -> dict[str, Any]:
        loops: list[list[PlaylistItem]] = []
        by_id: dict[int, int] = {}  # the scheduler shares equal hours' item lists: cheap path
        refs = []
        for hour in self.hours:
            i = by_id.get(id(hour.items))
            if i is None:
                i = next((k for k, loop in enumerate(loops) if loop == hour.items), len(loops))
                if i == len(loops):
                    loops.append(hour.items)
                by_id[id(hour.items)] = i
            refs.append({"start_ms": hour.start_ms, "loop": i})
        return {"loops": loops, "hours": refs}

    @model_validator(mode="after")
    def _ordered(self) -> Playlist:
        starts = [h.start_ms for h in self.hours]
        if starts != sorted(set(starts)):
            raise ValueError("hours must be strictly ascending")
        return self

    @property
    def valid_until_ms(self) -> int:
        return self.hours[-1].start_ms + HOUR_MS if self.hours else 0

    def creatives(self) -> set[str]:
        return {item.creative for hour in self.hours for item in hour.items}

    def digest(self) -> str:
        """Stable hash of the content: equal playlists have equal digests."""
        doc = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(doc).hexdigest()

    def plays_between(self, t1_ms: int, t2_ms: int) -> Iterator[Play]:
        """Every item overlapping [t1, t2), clipped to it, in time order."""
        for hour in self.hours:
            if hour.start_ms + HOUR_MS <= t1_ms or hour.start_ms >= t2_ms:
                continue
            for item in hour.items:
                start = hour.start_ms + item.offset_ms
                end = start + item.duration_ms
                if end <= t1_ms or start >= t2_ms:
                    continue
                yield Play(start_ms=max(start, t1_ms), end_ms=min(end, t2_ms),
                           creative=item.creative, campaign_id=item.campaign_id)

    def at(self, t_ms: int) -> Play | None:
        """The item playing at `t_ms` (unclipped), or None outside the playlist or in a gap."""
        hour_start = t_ms - t_ms % HOUR_MS
        for hour in self.hours:
            if hour.start_ms == hour_start:
                for item in hour.items:
                    start = hour.start_ms + item.offset_ms
                    if start <= t_ms < start + item.duration_ms:
                        return Play(start_ms=start, end_ms=start + item.duration_ms,
                                    creative=item.creative, campaign_id=item.campaign_id)
        return None
