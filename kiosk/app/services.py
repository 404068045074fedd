"""What the screens are given (no Kivy): the checkout flow, the playback, how to find a
creative's file, the link status, the technician's tools. Every field has a harmless default,
so a screen can be rendered with only what it needs (tests, the bench)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.app.camera_feed import FrameConsumer
from kiosk.app.controller_calls import AppCalls
from kiosk.app.logbuffer import RecentLogs
from kiosk.app.pin import PinGate
from kiosk.checkout.service import TerminalCheckout
from kiosk.playback import Playback
from kiosk.vision.frames import FrameSource

if TYPE_CHECKING:  # kiosk.checkout.camera pulls in OpenCV: not at app start
    from kiosk.checkout.camera import Notice

Resolver = Callable[[str], tuple[Path, str] | None]  # creative sha256 -> (file, media type)


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Services:
    device_id: str = "kiosk"
    checkout: TerminalCheckout | None = None
    playback: Playback | None = None
    resolve: Resolver = lambda _sha: None
    online: Callable[[], bool] = lambda: True
    info: Callable[[], dict[str, str]] = dict
    self_test: Callable[[], Awaitable[list[str]]] | None = None
    pin: PinGate = field(default_factory=lambda: PinGate(None))
    logs: RecentLogs | None = None
    camera: Callable[[], FrameSource | None] | None = None  # opens the camera (blocking)
    # the checkout's camera step (`CameraPay`), given where its notices go
    camera_pay: Callable[[Callable[[Notice], None]], FrameConsumer] | None = None
    calls: AppCalls | None = None  # e-receipt link, ad offer, coupon claim (None: no controller)
    brands: dict[str, str] = field(default_factory=dict)
    exit: Callable[[], None] = lambda: None
    idle_s: float = 60.0
    offline_grace_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    now_ms: Callable[[], int] = _wall_ms
