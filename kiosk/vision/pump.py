"""Reading a frame source off the UI thread and handing on only the newest frame.

`FramePump` runs two threads. The reader calls `source.read()` as fast as the source gives
frames (a camera: its frame rate) and leaves each frame in a one-frame slot, replacing a frame
nobody has taken yet (counted in `dropped`). The deliverer takes the frame from the slot and
calls `sink(frame)`. A slow consumer (a decoder, a busy event loop) therefore sees fresh
frames with gaps instead of an ever older backlog, and never holds up the camera: a camera
whose frames are not read builds up its own buffer of stale frames.

The sink is called on the deliverer thread, once per frame, then once with None when the
stream ends (source exhausted, source failed — see `error` — or `stop()`). `queue_sink`
makes a sink that feeds an asyncio queue through `loop.call_soon_threadsafe`, keeping at most
one waiting frame in it, so a coroutine can `await queue.get()` without the UI loop ever
touching the camera.

`stop()` is safe from any thread, the sink included; it asks the reader to finish (a blocked
`read()` returns within one frame interval), drops a frame not yet delivered, joins both
threads and closes the source (on the reader thread, where it was read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from kiosk.vision.frames import Frame, FrameSource

log = logging.getLogger(__name__)
FrameSink = Callable[[Frame | None], None]


class FramePump:
    """Two threads between a frame source and a sink (see the module docstring)."""

    def __init__(self, source: FrameSource, sink: FrameSink, *, name: str = "frames") -> None:
        self._source = source
        self._sink = sink
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._ended = False
        self._stopping = False
        self.error: BaseException | None = None
        self.read_count = 0
        self.delivered = 0
        self.dropped = 0
        self.reader_done = threading.Event()  # the source is exhausted, failed or stopped
        self.done = threading.Event()  # the sink has had its final None
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-reader",
                                        daemon=True)
        self._deliverer = threading.Thread(target=self._deliver_loop, name=f"{name}-deliver",
                                           daemon=True)

    def start(self) -> FramePump:
        if self._stopping:
            raise RuntimeError("a stopped pump cannot be started again")
        self._deliverer.start()
        self._reader.start()
        return self

    def _read_loop(self) -> None:
        try:
            while not self._stopping:
                frame = self._source.read()
                if frame is None:
                    break
                with self._cond:
                    self.read_count += 1
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = frame
                    self._cond.notify()
        except Exception as exc:  # a broken source ends the stream; the pump reports it
            log.exception("frame source failed")
            self.error = exc
        finally:
            try:
                self._source.close()
            except Exception:
                log.exception("closing the frame source failed")
            with self._cond:
                self._ended = True
                self._cond.notify()
            self.reader_done.set()

    def _deliver_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._ended
                                    or self._stopping)
                if self._stopping or self._slot is None:
                    break
                frame, self._slot = self._slot, None
            self.delivered += 1
            self._call_sink(frame)
        self._call_sink(None)
        self.done.set()

    def _call_sink(self, frame: Frame | None) -> None:
        try:
            self._sink(frame)
        except Exception:  # the consumer's bug must not stop the camera
            log.exception("frame sink failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, drop what was not delivered, join the threads, close the source."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if not self._reader.is_alive() and not self.reader_done.is_set():
            self._source.close()  # never started: nothing else will close it
            self.reader_done.set()
        for thread in (self._reader, self._deliverer):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("%s did not stop within %.1f s", thread.name, timeout)

    @property
    def running(self) -> bool:
        return self._reader.is_alive() or self._deliverer.is_alive()

    def __enter__(self) -> FramePump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def queue_sink(loop: asyncio.AbstractEventLoop,
               queue: asyncio.Queue[Frame | None]) -> FrameSink:
    """A sink that puts frames into `queue` on `loop`, replacing a frame still waiting there.

    Give it an unbounded `asyncio.Queue()`: it never holds more than the newest frame and,
    at the end, the None after it (so the last frame of a recording is not lost).
    """

    def replace(frame: Frame | None) -> None:
        if frame is not None or queue.full():
            while not queue.empty():  # stale frames go (None is last: nothing follows it)
                queue.get_nowait()
                queue.task_done()
        queue.put_nowait(frame)

    def sink(frame: Frame | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
            loop.call_soon_threadsafe(replace, frame)

    return sink
