"""The frame pump: frames read off the UI thread, only the newest handed on, stoppable."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from kiosk.vision.frames import Frame
from kiosk.vision.pump import FramePump, queue_sink

TINY = np.zeros((4, 4, 3), np.uint8)


class ListSource:
    """`count` frames, then the end; remembers which thread closed it."""

    def __init__(self, count: int) -> None:
        self.left = list(range(count))
        self.closed_on: str | None = None

    def read(self) -> Frame | None:
        if not self.left:
            return None
        i = self.left.pop(0)
        return Frame(TINY, i / 10, i)

    def close(self) -> None:
        self.closed_on = threading.current_thread().name


class LiveSource(ListSource):
    """Never ends on its own, like a camera (one frame per 5 ms wait)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.index = 0
        self.tick = threading.Event()

    def read(self) -> Frame | None:
        self.tick.wait(0.005)
        self.index += 1
        return Frame(TINY, self.index / 30, self.index)


class Recorder:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.ends = 0
        self.threads: set[str] = set()

    def __call__(self, frame: Frame | None) -> None:
        self.threads.add(threading.current_thread().name)
        if frame is None:
            self.ends += 1
        else:
            self.frames.append(frame)


class GatedSource(ListSource):
    """Holds frame 1 back until the consumer has frame 0 (so the test does not race)."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.first_taken = threading.Event()

    def read(self) -> Frame | None:
        if self.left and self.left[0] == 1:
            self.first_taken.wait(10)
        return super().read()


def test_a_slow_consumer_gets_the_newest_frame_not_a_backlog() -> None:
    source, got = GatedSource(50), Recorder()
    release = threading.Event()

    def slow(frame: Frame | None) -> None:
        got(frame)
        if frame is not None and frame.index == 0:
            source.first_taken.set()
            release.wait(10)  # busy on the first frame while the camera keeps going

    pump = FramePump(source, slow).start()
    assert pump.reader_done.wait(10)
    release.set()
    assert pump.done.wait(10)
    assert [f.index for f in got.frames] == [0, 49]
    assert pump.dropped == 48 and pump.delivered == 2 and got.ends == 1
    assert threading.current_thread().name not in got.threads  # never on the caller's thread
    assert source.closed_on is not None and "reader" in source.closed_on


def test_a_fast_consumer_gets_frames_in_order_and_one_end_marker() -> None:
    got = Recorder()
    with FramePump(ListSource(20), got) as pump:
        assert pump.done.wait(10)
    indices = [f.index for f in got.frames]
    assert indices == sorted(set(indices)) and indices[-1] == 19
    assert got.ends == 1 and pump.delivered + pump.dropped == 20


def test_stop_ends_a_live_camera_cleanly() -> None:
    source, got = LiveSource(), Recorder()
    pump = FramePump(source, got).start()
    while len(got.frames) < 3:
        assert pump.running
        source.tick.wait(0.01)
    pump.stop()
    assert not pump.running
    assert source.closed_on is not None and got.ends == 1
    assert pump.done.is_set()


def test_the_consumer_may_stop_the_pump_itself() -> None:
    source = LiveSource()
    pump: FramePump

    def stop_after_five(frame: Frame | None) -> None:
        if frame is not None and frame.index >= 5:
            pump.stop()

    pump = FramePump(source, stop_after_five).start()
    assert pump.done.wait(10)
    pump.stop()
    assert not pump.running and source.closed_on is not None


def test_a_failing_source_ends_the_stream_with_its_error() -> None:
    class Broken(ListSource):
        def read(self) -> Frame | None:
            if len(self.left) < 3:
                raise OSError("camera unplugged")
            return super().read()

    source, got = Broken(5), Recorder()
    pump = FramePump(source, got).start()
    assert pump.done.wait(10)
    assert isinstance(pump.error, OSError) and got.ends == 1
    assert source.closed_on is not None


def test_a_failing_consumer_does_not_stop_the_camera() -> None:
    seen: list[int] = []

    def flaky(frame: Frame | None) -> None:
        if frame is not None:
            seen.append(frame.index)
            raise ValueError("consumer bug")

    with FramePump(ListSource(10), flaky) as pump:
        assert pump.done.wait(10)
    assert seen[-1] == 9


def test_a_pump_that_never_started_still_closes_its_source() -> None:
    source = ListSource(3)
    FramePump(source, Recorder()).stop()
    assert source.closed_on is not None


async def test_an_asyncio_consumer_awaits_the_newest_frames_from_a_queue() -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Frame | None] = asyncio.Queue()
    pump = FramePump(ListSource(200), queue_sink(loop, queue)).start()
    got: list[int] = []
    while (frame := await queue.get()) is not None:
        got.append(frame.index)
        assert queue.qsize() <= 2  # never a backlog: the newest frame, then the end marker
        await asyncio.sleep(0)
    pump.stop()
    assert got == sorted(set(got)) and got[-1] == 199


def test_a_stopped_pump_cannot_be_restarted() -> None:
    pump = FramePump(ListSource(1), Recorder())
    pump.stop()
    with pytest.raises(RuntimeError):
        pump.start()
