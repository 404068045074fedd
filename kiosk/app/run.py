"""`kiosk app`: the touchscreen app with the device agent, signage and checkout in one asyncio
loop (Kivy's `App.async_run`). Without credentials it runs with no controller; with
`--sample-content` it plays locally drawn sample creatives (demo, bench, bench soak)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.app import env, memory
from kiosk.app.controller_calls import AppCalls
from kiosk.app.logbuffer import RecentLogs
from kiosk.app.pin import PinGate
from kiosk.app.profiles import PROFILES
from kiosk.app.services import Services
from kiosk.app.wiring import AcceleratedClock, drive_playback, info_for, self_test_for
from kiosk.face.remote_delete import register_face_deletion_on_disk
from kiosk.playback import Playback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppOptions:
    data_dir: Path
    credentials: Path | None = None
    profile: str = "10in-landscape"
    fullscreen: bool = True
    pin_hash: str | None = None
    sample_content: bool = False
    speed: float = 1.0  # sample content only: playlist time runs this much faster
    stats_file: Path | None = None
    idle_s: float = 60.0
    offline_grace_s: float = 10.0
    heartbeat_s: float = 30.0
    content_quota_mb: int = 2048
    camera: int | None = None


def _camera(index: int | None) -> Any:
    if index is None:
        return None

    def open_camera() -> Any:
        from kiosk.vision.camera import CameraConfig, CameraOpenError, CameraSource

        try:
            return CameraSource(CameraConfig(device=index))
        except CameraOpenError as exc:
            log.warning("app: %s", exc)
            return None

    return open_camera


async def _write_stats(app: Any, path: Path) -> None:
    import psutil

    proc = psutil.Process()
    while True:
        stats = app.stats() | {"rss_mb": round(proc.memory_info().rss / 2**20, 1),
                               "t": time.monotonic()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, path)
        await asyncio.sleep(0.5)


async def run_app(opts: AppOptions) -> int:
    memory.limit_arenas()  # before Kivy and the decoders start their threads (memory.py)
    profile = PROFILES[opts.profile]
    env.prepare(opts.data_dir / "kivy")
    from kivy.config import Config

    env.configure_kiosk(Config, profile.size, fullscreen=opts.fullscreen)
    from kiosk.app.app import KioskApp  # imports Kivy: after the configuration above

    logs = RecentLogs().install()
    holder: dict[str, Any] = {}

    def show(play: Any) -> None:
        root = holder["app"].kiosk_root if "app" in holder else None
        if root is not None:
            root.show_play(play)

    tasks: list[asyncio.Task[Any]] = []
    agent = store = till = library = link = faces = camera_pay = None
    camera = _camera(opts.camera)
    clock = AcceleratedClock(opts.speed) if opts.sample_content else None
    if opts.credentials is not None:
        from content.signing import public_key_from_text
        from kiosk import credentials
        from kiosk.agent.agent import AgentConfig, KioskAgent
        from kiosk.agent.store import SqliteAgentStore
        from kiosk.checkout.service import TerminalCheckout
        from kiosk.checkout.states import FlowConfig
        from kiosk.player import ContentLibrary
        from kiosk.signage import TerminalSignage

        [creds] = credentials.load(opts.credentials)[:1]
        store = await SqliteAgentStore.open(opts.data_dir / "agent.sqlite")
        agent = KioskAgent(AgentConfig(device_id=creds.device_id, password=creds.password,
                                       host=creds.host, port=creds.port,
                                       data_dir=opts.data_dir,
                                       heartbeat_s=opts.heartbeat_s), store)
        link = asyncio.create_task(agent.run())
        if camera is not None:  # codes, and faces when this terminal has enrolled some
            from kiosk.app.face_pay import camera_pay_factory, open_face_gallery

            faces = await open_face_gallery(opts.data_dir, agent.now_ms())
        register_face_deletion_on_disk(agent.commands, opts.data_dir,
                                       gallery=faces.gallery if faces else None,
                                       record=agent.record, clock_ms=agent.now_ms)
        till = TerminalCheckout(agent, config=FlowConfig(face_pay=bool(faces and faces.enabled)))
        if faces is not None:
            camera_pay = camera_pay_factory(till, faces, agent.now_ms)
        playback = Playback(agent.record, show=show, clock=clock)
        if creds.content_key and not opts.sample_content:
            library = ContentLibrary(opts.data_dir / "content", opts.content_quota_mb * 2**20,
                                     trusted_keys=public_key_from_text(creds.content_key))
            signage = TerminalSignage(agent, library, playback=playback)
            tasks.append(asyncio.create_task(signage.run()))
    else:
        async def no_record(_type: str, _data: dict[str, Any]) -> int:
            return 0

        playback = Playback(no_record, show=show, clock=clock)
    if clock is not None:
        from kiosk.app.sample_library import build_sample_library

        sample = await asyncio.to_thread(
            build_sample_library, opts.data_dir / "sample-content", clock(),
            orientation="landscape" if profile.landscape else "portrait", hours=24)
        library = sample.library
        await playback.set_playlist(sample.playlist)
        tasks.append(asyncio.create_task(drive_playback(playback, opts.speed)))

    from kiosk.app.sample_library import library_resolver

    services = Services(
        device_id=agent.cfg.device_id if agent else "local", checkout=till, playback=playback,
        resolve=library_resolver(library) if library else (lambda _sha: None),
        online=(lambda: agent.connected.is_set()) if agent else (lambda: False),
        info=info_for(agent, library,
                      lambda: till.state.order.store_id if till and hasattr(
                          till.state, "order") else None),
        self_test=self_test_for(agent, library, opts.data_dir, camera),
        calls=AppCalls(agent) if agent else None,
        pin=PinGate(opts.pin_hash), logs=logs, camera=camera, camera_pay=camera_pay,
        idle_s=opts.idle_s,
        offline_grace_s=opts.offline_grace_s)
    app = KioskApp(services, profile)
    holder["app"] = app
    if opts.stats_file is not None:
        tasks.append(asyncio.create_task(_write_stats(app, opts.stats_file)))
    try:
        await app.async_run(async_lib="asyncio")
    finally:
        if app.kiosk_root is not None and app.kiosk_root.feed is not None:
            await app.kiosk_root.feed.aclose()
        if till is not None:
            await till.aclose()
        if faces is not None:
            await faces.aclose()
        for task in reversed(tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if agent is not None and link is not None:
            agent.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link, 5)
        if store is not None:
            await store.close()
    return 0
