"""Terminal playback: what is on screen follows the playlist; every play leaves proof."""

from __future__ import annotations

from typing import Any

from content.playlist import HOUR_MS, Playlist, PlaylistHour, PlaylistItem
from kiosk.playback import Playback, current_play

A, B, H = "a" * 64, "b" * 64, "c" * 64
T0 = 480_000 * HOUR_MS  # an hour boundary


def hour(start: int) -> PlaylistHour:
    items = [PlaylistItem(offset_ms=0, duration_ms=10_000, creative=A, campaign_id="cmp-a"),
             PlaylistItem(offset_ms=10_000, duration_ms=5_000, creative=B, campaign_id="cmp-b"),
             PlaylistItem(offset_ms=15_000, duration_ms=HOUR_MS - 15_000, creative=H)]
    return PlaylistHour(start_ms=start, items=items)


PLAYLIST = Playlist(hours=[hour(T0), hour(T0 + HOUR_MS)])


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, type_: str, data: dict[str, Any]) -> int:
        self.events.append((type_, data))
        return len(self.events)


def test_current_play_follows_the_clock_and_loops_the_last_hour_when_stale() -> None:
    assert current_play(PLAYLIST, T0 + 12_000).creative == B  # type: ignore[union-attr]
    assert current_play(None, T0) is None
    assert current_play(PLAYLIST, T0 - 1) is None  # before the playlist starts
    stale = current_play(PLAYLIST, T0 + 5 * HOUR_MS + 3_000)  # offline for hours
    assert stale is not None and stale.creative == A
    assert stale.start_ms == T0 + 5 * HOUR_MS


async def test_each_finished_item_is_recorded_as_a_complete_play() -> None:
    clock, rec = Clock(T0 + 2_000), Recorder()
    shown: list[str | None] = []
    pb = Playback(rec, clock=clock, show=lambda p: shown.append(p and p.creative))
    await pb.set_playlist(PLAYLIST)
    assert await pb.tick() == 8_000  # until A ends
    clock.t = T0 + 10_000
    await pb.tick()
    clock.t = T0 + 15_000
    await pb.tick()
    plays = [d for t, d in rec.events if t == "ad.play"]
    assert [(p["campaign_id"], p["played_ms"], p["outcome"]) for p in plays] == [
        ("cmp-a", 8_000, "complete"), ("cmp-b", 5_000, "complete")]
    assert plays[0]["start_ms"] == T0 + 2_000  # joined mid-item: counted from when it showed
    assert shown == [A, None, B, None, H]


async def test_checkout_interrupts_the_ad_and_touches_are_attributed() -> None:
    clock, rec = Clock(T0 + 1_000), Recorder()
    pb = Playback(rec, clock=clock)
    await pb.set_playlist(PLAYLIST)
    await pb.tick()
    assert await pb.touch()
    clock.t = T0 + 4_000
    await pb.pause()
    assert not await pb.touch()  # nothing on screen while the checkout has it
    assert rec.events == [
        ("ad.touch", {"campaign_id": "cmp-a", "creative": A}),
        ("ad.play", {"campaign_id": "cmp-a", "creative": A, "start_ms": T0 + 1_000,
                     "played_ms": 3_000, "outcome": "interrupted"})]
    pb.resume()
    await pb.tick()
    assert pb.on_screen is not None and pb.on_screen.creative == A


async def test_switching_playlists_interrupts_only_an_item_that_changes() -> None:
    clock, rec = Clock(T0 + 1_000), Recorder()
    pb = Playback(rec, clock=clock)
    await pb.set_playlist(PLAYLIST)
    await pb.tick()
    await pb.set_playlist(Playlist(hours=[hour(T0)]))  # same item at this instant
    assert rec.events == []
    other = Playlist(hours=[PlaylistHour(start_ms=T0, items=[
        PlaylistItem(offset_ms=0, duration_ms=HOUR_MS, creative=H)])])
    await pb.set_playlist(other)
    assert [d["outcome"] for _, d in rec.events] == ["interrupted"]
    await pb.tick()
    assert pb.on_screen is not None and pb.on_screen.creative == H
