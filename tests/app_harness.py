"""Driving the Kivy app in tests: one real window per test process (Xvfb when `DISPLAY` is
set, SDL's offscreen driver otherwise), frames advanced by hand, simulated touches, and
screenshots read back from OpenGL into PNG files under `var/screenshots/`.

Import this module before anything that imports Kivy: it sets Kivy's environment
(`kiosk.app.env.prepare`) with a throw-away `KIVY_HOME`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.app import env

env.prepare(Path(tempfile.mkdtemp(prefix="kivy-home-")))

import numpy as np  # noqa: E402
from kivy.config import Config  # noqa: E402
from PIL import Image  # noqa: E402

# Created at the largest profile's extent: SDL's offscreen driver keeps the first framebuffer
# size, and a window resized to a profile then draws into a part of it.
env.configure_kiosk(Config, (1920, 1920), fullscreen=False, maxfps=0)

from kivy.base import EventLoop  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402

from kiosk.app.inspect import Seen, layout_problems, visible  # noqa: E402
from kiosk.app.profiles import Profile  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "var" / "screenshots"


class Ui:
    """The test window. `frames(n)` draws n frames; `settle()` also lets asyncio run."""

    def __init__(self) -> None:
        EventLoop.ensure_window()
        self.window = EventLoop.window
        self.window.close = lambda *_: None  # one window for the whole process

    def show(self, root: Any, profile: Profile) -> Any:
        for child in list(self.window.children):
            self.window.remove_widget(child)
        if tuple(self.window.size) != profile.size:
            self.window.size = profile.size
            self.frames(3)
        self.window.add_widget(root)
        self.frames(1)
        return root

    def frames(self, n: int = 1) -> None:
        for _ in range(n):
            EventLoop.idle()

    async def settle(self, n: int = 6) -> None:
        for _ in range(n):
            EventLoop.idle()
            await asyncio.sleep(0.01)

    async def until(self, cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not cond():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; on screen: {self.texts()}")
            EventLoop.idle()
            await asyncio.sleep(0.02)

    # ---- looking ------------------------------------------------------------------------------

    def seen(self) -> list[Seen]:
        return visible(self.window)

    def texts(self) -> list[str]:
        return [s.text for s in self.seen() if s.text]

    def has_text(self, fragment: str) -> bool:
        return any(fragment in t for t in self.texts())

    def problems(self) -> list[str]:
        return layout_problems(self.window, tuple(self.window.size))

    def buttons(self) -> dict[str, Seen]:
        return {getattr(s.widget, "action", ""): s for s in self.seen() if s.role == "button"}

    def roles(self) -> set[str]:
        return {s.role for s in self.seen()}

    # ---- touching -----------------------------------------------------------------------------

    def tap_at(self, x: float, y: float) -> None:
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)

    def tap(self, action: str) -> None:
        buttons = self.buttons()
        assert action in buttons, f"no {action!r} button on screen: {sorted(buttons)}"
        r = buttons[action].rect
        self.tap_at(r.x + r.w / 2, r.y + r.h / 2)

    # ---- capturing ----------------------------------------------------------------------------

    def capture(self) -> np.ndarray:
        """The window's pixels now (RGB, top row first), after drawing a fresh frame."""
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels

        self.window.canvas.ask_update()
        self.frames(1)
        w, h = self.window.size
        data = glReadPixels(0, 0, w, h, GL_RGB, GL_UNSIGNED_BYTE)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()

    def screenshot(self, name: str, folder: Path = SHOTS) -> tuple[Path, np.ndarray]:
        pixels = self.capture()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path, compress_level=1)
        return path, pixels


def not_blank(pixels: np.ndarray) -> bool:
    """More than a flat fill: real content has contrast and many colours."""
    sample = pixels[::4, ::4]
    grey = sample.mean(axis=2)
    return float(grey.std()) > 8.0 and len(np.unique(sample.reshape(-1, 3)[::7], axis=0)) > 8


def decode_qr(pixels: np.ndarray) -> str:
    """What a phone camera would read from the screen: OpenCV's QR detector, else ZXing (the
    decoder many phone scanners use; OpenCV misses denser codes such as a 150-character
    e-receipt link that ZXing and phones read)."""
    import cv2
    import zxingcpp

    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(bgr)
    if text:
        return str(text)
    found = zxingcpp.read_barcodes(bgr, formats=zxingcpp.BarcodeFormat.QRCode)
    return found[0].text if found else ""


_UI: Ui | None = None


def ui() -> Ui:
    global _UI
    if _UI is None:
        _UI = Ui()
    return _UI
