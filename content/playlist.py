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
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

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


MAX_LOOPS = 10_000


class HourRef(_Frozen):
    start_ms: Annotated[int, Field(ge=0, multiple_of=HOUR_MS)]
    loop: Annotated[int, Field(ge=0, lt=MAX_LOOPS)]


def _check_loop(items: list[PlaylistItem]) -> None:
    at = 0
    for item in items:
        if item.offset_ms != at:
            raise ValueError(f"item at {item.offset_ms} ms: gap or overlap (expected {at})")
        at += item.duration_ms
    if at > HOUR_MS:
        raise ValueError(f"items run {at - HOUR_MS} ms past the hour")


class Playlist(_Frozen):
    """Hours in order. Stored and sent compactly: hours with the same items share one "loop",
    `{"loops": [[item, ...], ...], "hours": [{"start_ms": …, "loop": i}, ...]}`, so a day of
    identical hours costs one hour of JSON to send, parse and sign. `Playlist(hours=[...])`
    with `PlaylistHour`s builds it; `.hours` gives the hours back."""

    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    loops: Annotated[list[list[PlaylistItem]], Field(max_length=MAX_LOOPS)]
    refs: list[HourRef] = Field(alias="hours")
    _hours: list[PlaylistHour] = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        """Accept the expanded form (a list of hours) and share equal hours' items."""
        if not (isinstance(data, dict) and "loops" not in data and "hours" in data):
            return data
        if set(data) != {"hours"} or not isinstance(data["hours"], list):
            return data  # let field validation report it
        loops: list[list[Any]] = []
        by_id: dict[int, int] = {}  # the scheduler shares equal hours' item lists: cheap path
        refs = []
        for raw in data["hours"]:
            hour = raw if isinstance(raw, PlaylistHour) else PlaylistHour.model_validate(raw)
            i = by_id.get(id(hour.items))
            if i is None:
                i = next((k for k, loop in enumerate(loops) if loop == hour.items), len(loops))
                if i == len(loops):
                    loops.append(hour.items)
                by_id[id(hour.items)] = i
            refs.append({"start_ms": hour.start_ms, "loop": i})
        return {"loops": loops, "hours": refs}

    @model_validator(mode="after")
    def _expand(self) -> Playlist:
        for items in self.loops:
            _check_loop(items)
        starts = [r.start_ms for r in self.refs]
        if starts != sorted(set(starts)):
            raise ValueError("hours must be strictly ascending")
        for ref in self.refs:
            if ref.loop >= len(self.loops):
                raise ValueError(f"hour {ref.start_ms} refers to loop {ref.loop}, "
                                 f"there are {len(self.loops)}")
        self._hours = [PlaylistHour.model_construct(start_ms=r.start_ms, items=self.loops[r.loop])
                       for r in self.refs]
        return self

    @property
    def hours(self) -> list[PlaylistHour]:
        return self._hours

    @classmethod
    def from_hours(cls, hours: list[PlaylistHour]) -> Playlist:
        """Build from hours already known valid (the scheduler's output), without re-checking
        every item; equal hours share one loop."""
        data = cls._compact({"hours": hours})
        playlist = cls.model_construct(loops=data["loops"], refs=[
            HourRef.model_construct(**r) for r in data["hours"]])
        playlist._hours = list(hours)
        return playlist

    @property
    def valid_until_ms(self) -> int:
        return self.hours[-1].start_ms + HOUR_MS if self.hours else 0

    def creatives(self) -> set[str]:
        return {item.creative for loop in self.loops for item in loop}

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
