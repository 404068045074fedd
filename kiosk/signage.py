"""The terminal's signage loop: `down/config` pointer → verified content → playback → report.

- On start it plays whatever verified manifest the library holds (offline boot plays the last
  good playlist at once).
- Each desired config with a playlist pointer is handed to `ContentSync.request` (latest
  wins); the agent's receive loop never waits for a download.
- A verified, activated manifest switches playback; a failed or rejected sync leaves the old
  playlist playing, is reported in the retained state (`extra.content`) and as a
  `content.sync` event, and a failed one is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kiosk.agent.agent import KioskAgent
from kiosk.agent.backoff import Backoff
from kiosk.playback import Playback
from kiosk.player import ContentLibrary, ContentPointer, ContentSync, SyncResult
from kiosk.wire.messages import DesiredConfig

log = logging.getLogger(__name__)

RETRY_MIN_S = 5.0
RETRY_MAX_S = 300.0


class TerminalSignage:
    def __init__(self, agent: KioskAgent, library: ContentLibrary, *,
                 sync: ContentSync | None = None, playback: Playback | None = None) -> None:
        self.agent = agent
        self.library = library
        self.sync = sync or ContentSync(library)
        self.playback = playback or Playback(agent.record)
        self.last_result: SyncResult | None = None
        self.activations = 0
        self._digests: dict[str, str | None] = {}  # manifest sha256 → its playlist's digest
        self._pointer: ContentPointer | None = None
        self._kick = asyncio.Event()
        agent.config_listeners.append(self._on_config)

    async def _on_config(self, desired: DesiredConfig) -> None:
        if desired.playlist is None:
            return
        self._pointer = ContentPointer.parse(desired.playlist.model_dump())
        self._kick.set()

    def status(self) -> dict[str, Any]:
        current = self.library.current()
        playlist = current.manifest.playlist if current else None
        if current is not None and current.sha256 not in self._digests:
            self._digests = {current.sha256: playlist.digest() if playlist else None}
        result = self.last_result
        return {
            "manifest": current.sha256 if current else None,
            "playlist": self._digests[current.sha256] if current else None,
            "source": current.source if current else None,
            "sync": result.status if result else None,
            "reason": result.reason if result else None,
        }

    async def run(self) -> None:
        play = asyncio.create_task(self.playback.run())
        try:
            await self._show_current()
            await self.agent.report_state(content=await asyncio.to_thread(self.status))
            backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
            retry_in: float | None = None
            while True:
                if retry_in is None:
                    await self._kick.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._kick.wait(), retry_in)
                self._kick.clear()
                if self._pointer is None:
                    retry_in = None
                    continue
                task = self.sync.request(self._pointer)  # a newer pointer cancels an older sync
                kicked = asyncio.create_task(self._kick.wait())
                try:
                    await asyncio.wait({task, kicked}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    kicked.cancel()
                if not task.done():  # a newer pointer arrived: go round and request it
                    retry_in = 0
                    continue
                result = await self._handle(task)
                if result is not None and result.status == "failed":
                    retry_in = backoff.next_delay()
                else:
                    backoff.reset()
                    retry_in = None
        finally:
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
            await self.sync.aclose()

    async def _handle(self, task: asyncio.Task[SyncResult]) -> SyncResult | None:
        if task.cancelled():
            return None
        result = task.result()
        self.last_result = result
        if result.status == "activated":
            self.activations += 1
            await self._show_current()
        elif not result.ok:
            await self.agent.record("content.sync", result.to_json())
        await self.agent.report_state(content=await asyncio.to_thread(self.status))
        return result

    async def _show_current(self) -> None:
        current = await asyncio.to_thread(self.library.current)
        await self.playback.set_playlist(current.manifest.playlist if current else None)

