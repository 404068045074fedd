"""Signage playback on the terminal: what is on screen now, and the proof-of-play it leaves.

Pure timeline logic (`current_play`) plus a small loop-bound `Playback` that follows the wall
clock and records engagement events through the agent's lossless outbox:

- `ad.play`  data {"campaign_id", "creative", "start_ms", "played_ms", "outcome"}, recorded when
  an item ends ("complete") or is cut short by a checkout, a playlist switch or shutdown
  ("interrupted"); the event's ts_ms is the end of the play.
- `ad.touch` data {"campaign_id", "creative"}, when a shopper touches the ad on screen.

Past the end of its playlist (offline for hours) the terminal keeps looping the last hour of
the last good playlist rather than going dark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from content.playlist import HOUR_MS, Play, Playlist

Recorder = Callable[[str, dict[str, Any]], Awaitable[int]]
ShowCallback = Callable[[Play | None], None]


def current_play(playlist: Playlist | None, t_ms: int) -> Play | None:
    """The item on screen at `t_ms`; past the playlist, the last hour repeats."""
    if playlist is None or not playlist.hours:
        return None
    play = playlist.at(t_ms)
    if play is not None or t_ms < playlist.valid_until_ms:
        return play
    last = playlist.hours[-1]
    hour_start = t_ms - t_ms % HOUR_MS
    offset = t_ms - hour_start
    for item in last.items:
        if item.offset_ms <= offset < item.offset_ms + item.duration_ms:
            start = hour_start + item.offset_ms
            return Play(start_ms=start, end_ms=start + item.duration_ms,
                        creative=item.creative, campaign_id=item.campaign_id)
    return None


def play_event(play: Play, shown_from_ms: int, ended_ms: int, outcome: str) -> dict[str, Any]:
    return {"campaign_id": play.campaign_id, "creative": play.creative,
            "start_ms": shown_from_ms, "played_ms": max(0, ended_ms - shown_from_ms),
            "outcome": outcome}


class Playback:
    """Follows the clock through the active playlist and records what was shown."""

    def __init__(self, record: Recorder, *, show: ShowCallback | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        self._record = record
        self._show = show or (lambda play: None)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self.playlist: Playlist | None = None
        self.on_screen: Play | None = None
        self._shown_from = 0
        self._paused = False
        self._wake = asyncio.Event()

    async def set_playlist(self, playlist: Playlist | None) -> None:
        """Switch playlists; an item cut short by the switch is recorded as interrupted."""
        now = self._clock()
        if self.on_screen is not None and current_play(playlist, now) != self.on_screen:
            await self._finish(now, "interrupted")
        self.playlist = playlist
        self._wake.set()

    async def pause(self) -> None:
        """The screen is taken (checkout, sign-up): the ad on screen is interrupted."""
        self._paused = True
        await self._finish(self._clock(), "interrupted")
        self._wake.set()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def touch(self) -> bool:
        """A touch on the ad on screen; False when no ad is showing."""
        if self.on_screen is None:
            return False
        await self._record("ad.touch", {"campaign_id": self.on_screen.campaign_id,
                                        "creative": self.on_screen.creative})
        return True

    async def tick(self) -> int:
        """Bring the screen up to date with the clock; return ms until the next change."""
        now = self._clock()
        if self.on_screen is not None and now >= self.on_screen.end_ms:
            await self._finish(self.on_screen.end_ms, "complete")
        if self._paused:
            return 60_000
        if self.on_screen is None:
            play = current_play(self.playlist, now)
            if play is not None:
                self.on_screen, self._shown_from = play, now
                self._show(play)
            else:
                return 1_000
        assert self.on_screen is not None
        return max(1, self.on_screen.end_ms - now)

    async def run(self) -> None:
        try:
            while True:
                delay = await self.tick()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay / 1000)
        finally:
            if self.on_screen is not None:
                await asyncio.shield(self._finish(self._clock(), "interrupted"))

    async def _finish(self, end_ms: int, outcome: str) -> None:
        play, self.on_screen = self.on_screen, None
        if play is None:
            return
        self._show(None)
        await self._record("ad.play", play_event(play, self._shown_from, end_ms, outcome))
