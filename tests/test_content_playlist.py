"""The playlist format: compact on the wire, exact on the timeline, strict on bad input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from content.playlist import HOUR_MS, Playlist, PlaylistHour, PlaylistItem

SHAS = ["a" * 64, "b" * 64, "c" * 64]


@st.composite
def hours(draw: st.DrawFn) -> list[PlaylistHour]:
    loops = []
    for _ in range(draw(st.integers(1, 3))):
        durations = draw(st.lists(st.integers(1_000, 600_000), min_size=1, max_size=12))
        items, at = [], 0
        for d in durations:
            if at + d > HOUR_MS:
                break
            items.append(PlaylistItem(offset_ms=at, duration_ms=d,
                                      creative=draw(st.sampled_from(SHAS)),
                                      campaign_id=draw(st.sampled_from([None, "c1", "c2"]))))
            at += d
        loops.append(items)
    first = draw(st.integers(0, 1000))
    n = draw(st.integers(1, 8))
    return [PlaylistHour(start_ms=(first + i) * HOUR_MS,
                         items=list(draw(st.sampled_from(loops)))) for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(hours())
def test_round_trip_through_the_wire_keeps_every_play(hs: list[PlaylistHour]) -> None:
    playlist = Playlist(hours=hs)
    wire = orjson.dumps(playlist.model_dump(mode="json"))
    back = Playlist.model_validate_json(wire)
    assert back == playlist and back.digest() == playlist.digest()
    assert [h.items for h in back.hours] == [h.items for h in hs]
    assert len(orjson.loads(wire)["loops"]) == len({tuple(h.items) for h in hs})
    t1, t2 = hs[0].start_ms, hs[-1].start_ms + HOUR_MS
    assert list(back.plays_between(t1, t2)) == list(playlist.plays_between(t1, t2))
    assert Playlist.from_hours(hs) == playlist


def test_identical_hours_are_sent_once() -> None:
    items = [PlaylistItem(offset_ms=i * 10_000, duration_ms=10_000, creative=SHAS[i % 3])
             for i in range(360)]
    day = Playlist(hours=[PlaylistHour(start_ms=h * HOUR_MS, items=items) for h in range(24)])
    one = Playlist(hours=[PlaylistHour(start_ms=0, items=items)])
    assert len(day.model_dump_json()) < 1.1 * len(one.model_dump_json())


@pytest.mark.parametrize("doc", [
    {"loops": [[]], "hours": [{"start_ms": 0, "loop": 1}]},  # loop out of range
    {"loops": [[]], "hours": [{"start_ms": 5, "loop": 0}]},  # not on an hour
    {"loops": [[]], "hours": [{"start_ms": HOUR_MS, "loop": 0}, {"start_ms": 0, "loop": 0}]},
    {"loops": [[{"offset_ms": 5, "duration_ms": 10, "creative": "a" * 64}]],
     "hours": [{"start_ms": 0, "loop": 0}]},  # gap at the start of the hour
    {"loops": [[{"offset_ms": 0, "duration_ms": HOUR_MS, "creative": "a" * 64},
                {"offset_ms": HOUR_MS - 1, "duration_ms": 10, "creative": "a" * 64}]],
     "hours": [{"start_ms": 0, "loop": 0}]},  # overlap / past the hour
    {"loops": [[]], "hours": [{"start_ms": 0, "loop": 0}], "extra": 1},
])
def test_hostile_playlists_are_refused(doc: dict) -> None:
    with pytest.raises(ValidationError):
        Playlist.model_validate_json(orjson.dumps(doc))
