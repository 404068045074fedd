"""The app's one camera (no Kivy): open while a screen needs it, one pump for all who watch.

The code and face screens show a live preview *and* feed the checkout's `CameraPay` (payment
codes, liveness, face match). Both get the same frames from one `FramePump`: the preview polls
the newest frame (`latest()`, on the UI clock), `CameraPay` awaits them from an asyncio queue
(`queue_sink`). Opening a camera a second time for the other would fail on most drivers.

The camera is opened when a camera screen comes up and closed when it goes (privacy, power,
and a camera that is not read builds up stale frames). Opening and closing block (drivers
take 100s of ms; the pump joins its threads), so both run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from kiosk.vision.frames import Frame, FrameSource
from kiosk.vision.pump import FramePump, queue_sink

log = logging.getLogger(__name__)


class FrameConsumer(Protocol):
    async def run(self, frames: asyncio.Queue[Frame | None]) -> None: ...


class CameraFeed:
    def __init__(self, open_source: Callable[[], FrameSource | None],
                 consumer: Callable[[], FrameConsumer | None] | None = None) -> None:
        self._open_source = open_source
        self._make_consumer = consumer
        self._consumer: FrameConsumer | None = None
        self._guard = threading.Lock()
        self._latest: Frame | None = None
        self._pump: FramePump | None = None
        self._task: asyncio.Task[None] | None = None
        self._queue_sink: Callable[[Frame | None], None] | None = None
        self._wanted = False
        self._busy: asyncio.Lock | None = None
        self.failed = False  # the last open found no camera
        self.opened = 0  # how many times a camera was opened (tests, logs)

    @property
    def running(self) -> bool:
        return self._pump is not None

    def latest(self) -> Frame | None:
        """The newest frame not yet taken (None: nothing new since the last call)."""
        with self._guard:
            frame, self._latest = self._latest, None
        return frame

    def _sink(self, frame: Frame | None) -> None:  # the pump's deliverer thread
        if frame is not None:
            with self._guard:
                self._latest = frame
        if self._queue_sink is not None:
            self._queue_sink(frame)

    async def want(self, on: bool) -> None:
        """Open the camera (on) or close it (off); the last call wins."""
        self._wanted = on
        if self._busy is None:
            self._busy = asyncio.Lock()
        async with self._busy:  # one open/close at a time, then re-check what is wanted
            if self._wanted and self._pump is None:
                await self._open()
            elif not self._wanted and self._pump is not None:
                await self._close()

    async def _open(self) -> None:
        try:
            source = await asyncio.to_thread(self._open_source)
        except Exception:
            log.exception("camera: opening failed")
            source = None
        self.failed = source is None
        if source is None:
            return
        if self._consumer is None and self._make_consumer is not None:
            self._consumer = self._make_consumer()
        if self._consumer is not None:
            queue: asyncio.Queue[Frame | None] = asyncio.Queue()
            self._queue_sink = queue_sink(asyncio.get_running_loop(), queue)
            self._task = asyncio.get_running_loop().create_task(self._consumer.run(queue))
        self._pump = FramePump(source, self._sink, name="camera").start()
        self.opened += 1

    async def _close(self) -> None:
        pump, task = self._pump, self._task
        self._pump = self._task = None
        if pump is not None:
            await asyncio.to_thread(pump.stop)  # the consumer gets its None and returns
        self._queue_sink = None
        with self._guard:
            self._latest = None
        if task is not None:
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:
                log.exception("camera: the frame consumer failed")

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.want(False)
