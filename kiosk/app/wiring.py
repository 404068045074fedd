"""What the screens get from the terminal's parts (no Kivy): the technician's information and
self-test over the agent and the content library, and `drive_playback` for a terminal that
plays local sample content (no controller), optionally on an accelerated clock (the soak of
`bench/kiosk.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from kiosk import __version__
from kiosk.agent.agent import KioskAgent
from kiosk.playback import Playback
from kiosk.player import ContentLibrary
from kiosk.vision.frames import FrameSource


def addresses() -> str:
    """This machine's name and non-loopback IPv4 addresses."""
    names = []
    with contextlib.suppress(Exception):
        import psutil

        for nic, addrs in psutil.net_if_addrs().items():
            names += [f"{nic} {a.address}" for a in addrs
                      if a.family == socket.AF_INET and not a.address.startswith("127.")]
    return ", ".join([socket.gethostname(), *names[:3]])


def content_version(library: ContentLibrary | None) -> str:
    current = library.current() if library is not None else None
    if current is None:
        return "none"
    return f"{current.manifest.package_id} {current.sha256[:12]} ({current.source})"


def info_for(agent: KioskAgent | None, library: ContentLibrary | None,
             store_id: Callable[[], str | None] = lambda: None) -> Callable[[], dict[str, str]]:
    def info() -> dict[str, str]:
        broker = "-"
        if agent is not None:
            state = "online" if agent.connected.is_set() else "offline"
            broker = f"{agent.cfg.host}:{agent.cfg.port} {state}"
        return {"device": agent.cfg.device_id if agent else "-", "store": store_id() or "-",
                "network": addresses(), "broker": broker,
                "content": content_version(library), "version": __version__}

    return info


def self_test_for(agent: KioskAgent | None, library: ContentLibrary | None,
                  data_dir: Path, camera: Callable[[], FrameSource | None] | None = None,
                  ) -> Callable[[], Awaitable[list[str]]]:
    async def run() -> list[str]:
        out = []

        def report(ok: bool, what: str, detail: str) -> None:
            out.append(f"{'PASS' if ok else 'FAIL'} {what}: {detail}")

        current = library.current() if library is not None else None
        if current is None:
            report(False, "content", "no verified playlist")
        else:
            manifest = current.manifest
            bad = await asyncio.to_thread(
                lambda: [f.name for f in manifest.files if not library.verify_file(f)]
                if library is not None else [])
            report(not bad, "content", f"{len(manifest.files)} files verified" if not bad
                   else f"damaged: {', '.join(bad[:3])}")
        if agent is not None:
            report(agent.connected.is_set(), "controller",
                   f"{agent.cfg.host}:{agent.cfg.port}")
            report(True, "outbox", f"{await agent.store.count()} events waiting")
        free_mb = shutil.disk_usage(data_dir).free / 2**20
        report(free_mb > 500, "disk", f"{free_mb:.0f} MB free")
        if camera is not None:
            source = await asyncio.to_thread(camera)
            frame = await asyncio.to_thread(source.read) if source else None
            if source is not None:
                await asyncio.to_thread(source.close)
            report(frame is not None, "camera", "frame read" if frame else "no frame")
        return out

    return run


class AcceleratedClock:
    """Wall-clock milliseconds running `speed` times faster from its start."""

    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        self.speed = speed
        self._t0 = time.monotonic()
        self._start_ms = start_ms if start_ms is not None else int(time.time() * 1000)

    def __call__(self) -> int:
        return self._start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)


async def drive_playback(playback: Playback, speed: float = 1.0, max_nap_s: float = 0.25) -> None:
    """Keep `playback` up to date (in place of `Playback.run` when no `TerminalSignage` runs
    it): sleep until the next change in real time (the playlist's time over `speed`), never
    longer than `max_nap_s` so that pause and resume are seen at once."""
    while True:
        delay_ms = await playback.tick()
        await asyncio.sleep(min(delay_ms / 1000 / speed, max_nap_s))
