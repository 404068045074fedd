"""Kiosk behaviour in the real Kivy window: the idle timeout, the offline notice over an
attract loop that keeps playing, the technician PIN behind the hidden corner, no way out
without it (Escape, window close), the watchdog fed by the UI clock, and the camera preview
Screenshots go to var/screenshots/kiosk/."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from app_harness import SHOTS, not_blank, ui

from content.playlist import HOUR_MS
from kiosk.app.app import KioskApp
from kiosk.app.i18n import tr
from kiosk.app.logbuffer import RecentLogs
from kiosk.app.pin import PinGate, hash_pin
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.sample_library import SampleContent, build_sample_library, library_resolver
from kiosk.app.services import Services
from kiosk.app.shell import Shell
from kiosk.app.watchdog import Watchdog
from kiosk.app.wiring import self_test_for
from kiosk.playback import Playback

FOLDER = SHOTS / "kiosk"
START_MS = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS


class Clock:
    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleContent:
    root = tmp_path_factory.mktemp("kiosk-content")
    return build_sample_library(root, START_MS, item_ms=5_000, hours=1)


async def no_record(_type: str, _data: dict[str, Any]) -> int:
    return 0


def attract_root(sample: SampleContent, profile_name: str = "10in-landscape",
                 **services: Any) -> tuple[KioskRoot, Playback, list[int]]:
    now = [START_MS + 1000]
    holder: dict[str, KioskRoot] = {}
    playback = Playback(no_record, show=lambda p: holder["root"].show_play(p),
                        clock=lambda: now[0])
    root = KioskRoot(Services(playback=playback, resolve=library_resolver(sample.library),
                              **services), PROFILES[profile_name])
    holder["root"] = root
    return root, playback, now


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_offline_notice_while_the_ads_play_on(profile_name: str,
                                                    sample: SampleContent) -> None:
    clock, link = Clock(), {"up": True}
    root, playback, now = attract_root(sample, profile_name, clock=clock,
                                       online=lambda: link["up"], offline_grace_s=10)
    u = ui()
    u.show(root, PROFILES[profile_name])
    await playback.set_playlist(sample.playlist)
    await playback.tick()
    await u.settle(4)
    first = root.attract.stage.current_key
    link["up"] = False  # the controller becomes unreachable
    await u.until(lambda: root.offline.down_since is not None, "the link seen down")
    assert not u.has_text(tr("offline", "zh"))  # not at once: a short blip shows nothing
    clock.s += 11
    await u.until(lambda: u.has_text(tr("offline", "zh")), "the offline notice")
    now[0] += 5_000  # the next item of the playlist is due
    await playback.tick()
    await u.settle(4)
    assert root.attract.stage.current_key != first  # the loop moved on, offline
    _path, pixels = u.screenshot(f"offline-{profile_name}", FOLDER)
    assert not_blank(pixels) and u.problems() == []
    link["up"] = True
    await u.until(lambda: not u.has_text(tr("offline", "zh")), "the notice gone when back")


async def test_idle_timeout_brings_the_attract_loop_and_defaults_back(
        sample: SampleContent) -> None:
    clock = Clock()
    root, playback, _now = attract_root(sample, clock=clock, idle_s=60)
    u = ui()
    u.show(root, PROFILES["10in-landscape"])
    await playback.set_playlist(sample.playlist)
    player = asyncio.create_task(playback.run())
    await u.until(lambda: root.attract.stage.current is not None, "the first ad")
    u.tap("lang")
    u.tap("large_text")
    assert root.shell.lang == "en" and root.shell.large_text
    w, h = u.window.size
    u.tap_at(w / 2, h / 2)  # the ad: its offer opens
    assert root.screen == "offer" and u.has_text("Offer in this store")
    assert "picture" in u.roles() or root.shell.offer is not None
    clock.s += 30
    await u.settle(2)
    assert root.screen == "offer"  # still being read
    clock.s += 31
    await u.until(lambda: root.screen == "attract", "the attract loop after 60 s idle")
    assert root.shell == Shell()
    await u.until(lambda: u.has_text(tr("touch_hint", "zh")), "the default language")
    await u.until(lambda: root.attract.stage.current is not None, "the ad again")
    player.cancel()


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_technician_screen_behind_the_hidden_corner_and_pin(
        profile_name: str, sample: SampleContent, tmp_path: Path) -> None:
    exits: list[bool] = []
    logs = RecentLogs()
    logging.getLogger("kiosk.test").addHandler(logs)
    logging.getLogger("kiosk.test").warning("content sync failed: HTTP 503")
    root, _playback, _now = attract_root(
        sample, profile_name, pin=PinGate(hash_pin("2468", iterations=1000), max_tries=5),
        info=lambda: {"device": "till-42", "store": "sh-01", "network": "eth0 10.0.0.7",
                      "broker": "10.0.0.2:8883 online", "content": "samples ab12",
                      "version": "0.1.0"},
        self_test=self_test_for(None, sample.library, tmp_path), logs=logs,
        exit=lambda: exits.append(True))
    u = ui()
    u.show(root, PROFILES[profile_name])
    _w, h = u.window.size
    for _ in range(4):
        u.tap_at(8, h - 8)
    assert root.screen == "attract"  # four taps are not enough
    u.tap_at(8, h - 8)
    assert root.screen == "tech_pin"
    for key in "1111":
        u.tap(f"key:{key}")
    u.tap("key:ok")
    await u.settle(2)
    assert u.has_text(tr("tech_pin_wrong", "zh", left=4))
    _path, pixels = u.screenshot(f"tech-pin-{profile_name}", FOLDER)
    assert not_blank(pixels) and u.problems() == []
    for key in "2468":
        u.tap(f"key:{key}")
    u.tap("key:ok")
    await u.settle(2)
    assert root.screen == "technician"
    for text in ("till-42", "sh-01", "eth0 10.0.0.7", "10.0.0.2:8883", "samples ab12"):
        assert u.has_text(text), text
    u.tap("self_test")
    await u.until(lambda: u.has_text("PASS content"), "the self-test results")
    assert u.has_text("PASS disk")
    _path, pixels = u.screenshot(f"technician-{profile_name}", FOLDER)
    assert not_blank(pixels) and u.problems() == []
    u.tap("logs")
    await u.until(lambda: u.has_text("content sync failed: HTTP 503"), "the recent logs")
    u.tap("exit")
    assert exits == [True]
    logging.getLogger("kiosk.test").removeHandler(logs)


async def test_no_exit_without_the_technician(sample: SampleContent) -> None:
    from kivy.core.window import Window, WindowBase

    services = Services()
    app = KioskApp(services, PROFILES["10in-landscape"], watchdog=Watchdog(env={}))
    root = app.build()
    u = ui()
    u.show(root, PROFILES["10in-landscape"])
    closed: list[bool] = []
    real_close, Window.close = Window.close, lambda *_: closed.append(True)
    try:
        assert WindowBase.on_keyboard.exit_on_escape is False
        Window.dispatch("on_keyboard", 27, 41, None, [])  # Escape
        assert Window.dispatch("on_request_close") is True  # vetoed
        assert closed == [] and app.allow_exit is False
        app.allow_exit = True  # what "Exit kiosk mode" sets before stopping the app
        assert not Window.dispatch("on_request_close")
    finally:
        Window.close = real_close
        app.on_stop()


async def test_watchdog_is_fed_by_the_ui_clock_and_stops_when_it_freezes(
        sample: SampleContent, tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    watchdog = Watchdog(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"},
                        heartbeat_file=tmp_path / "heartbeat")
    holder: dict[str, KioskRoot] = {}
    playback = Playback(no_record, show=lambda p: holder["root"].show_play(p),
                        clock=lambda: START_MS + 1000)
    services = Services(playback=playback, resolve=library_resolver(sample.library))
    app = KioskApp(services, PROFILES["10in-landscape"], watchdog=watchdog)
    root = holder["root"] = app.build()  # schedules the watchdog on the Kivy clock
    u = ui()
    u.show(root, PROFILES["10in-landscape"])
    await playback.set_playlist(sample.playlist)
    await playback.tick()

    def received() -> list[str]:
        out = []
        while True:
            try:
                out.append(sock.recv(256).decode())
            except BlockingIOError:
                return out

    got: list[str] = []
    await u.until(lambda: got.extend(received()) or (
        any(m.startswith("READY=1") for m in got) and got.count("WATCHDOG=1") >= 3),
        "READY and watchdog pings")
    assert (tmp_path / "heartbeat").is_file()
    time.sleep(0.3)  # the UI thread is stuck: nobody feeds the watchdog
    assert received() == []
    await u.until(lambda: "WATCHDOG=1" in received(), "pings again once the UI runs")
    app.on_stop()
    sock.close()
