"""The camera preview of the payment-code and face-pay screens: frames from a `FrameSource`
(here a stand-in camera) drawn into ONE reused texture, the picture really on screen, the
camera freed when the shopper leaves. Screenshots go to var/screenshots/kiosk/."""

from __future__ import annotations

import time

import numpy as np
import pytest
from app_harness import SHOTS, not_blank, ui
from app_states import state

from kiosk.app.i18n import tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.services import Services
from kiosk.vision.frames import Frame

FOLDER = SHOTS / "kiosk"


class ColourSource:
    """A camera stand-in at about 30 fps: BGR frames, orange with a moving white square."""

    def __init__(self, n: int = 10_000) -> None:
        self.n, self.i = n, 0

    def read(self) -> Frame | None:
        if self.i >= self.n:
            time.sleep(0.01)
            return None
        image = np.zeros((240, 320, 3), np.uint8)
        image[:] = (0, 120, 255)  # BGR orange
        x = 10 + self.i * 5 % 260
        image[100:140, x:x + 40] = 255
        self.i += 1
        time.sleep(1 / 30)
        return Frame(image, self.i / 30, self.i)

    def close(self) -> None:
        self.n = 0


@pytest.mark.parametrize("name", ["face", "code"])
async def test_camera_preview_on_the_face_and_code_screens(name: str) -> None:
    flow_state, message, now = state(name)
    sources: list[ColourSource] = []

    def camera() -> ColourSource:
        sources.append(ColourSource())
        return sources[-1]

    root = KioskRoot(Services(camera=camera, now_ms=lambda: now), PROFILES["12in-portrait"])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES["12in-portrait"])
    page = root.page
    assert page is not None and page.camera is not None
    await u.until(lambda: page.camera.frames_shown >= 10, "camera frames on screen")
    assert page.camera.textures_made == 1  # one texture, reused for every frame
    _path, pixels = u.screenshot(f"camera-{name}-12in-portrait", FOLDER)
    assert u.problems() == [] and not_blank(pixels)
    rect = next(s.rect for s in u.seen() if s.role == "camera")
    h = pixels.shape[0]
    crop = pixels[int(h - rect.top) + 5: int(h - rect.y) - 5, int(rect.x) + 5: int(rect.right) - 5]
    orange = np.all(np.abs(crop.astype(int) - (255, 120, 0)) < 40, axis=2)
    assert orange.mean() > 0.2  # the camera picture is what the preview shows
    title = tr("face_title" if name == "face" else "code_title", "zh")
    assert u.has_text(title)
    root.act("back")  # leaving the screen frees the camera
    root.on_checkout(state("method")[0], [])
    await u.settle(2)
    assert sources[0].n == 0
