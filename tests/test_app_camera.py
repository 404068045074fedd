"""The camera preview of the payment-code and face-pay screens: frames from a `FrameSource`
(here a stand-in camera) drawn into ONE reused texture, the picture really on screen, the
camera freed when the shopper leaves. Screenshots go to var/screenshots/kiosk/."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest
from app_harness import SHOTS, not_blank, ui
from app_states import state

from kiosk.app.i18n import tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.services import Services
from kiosk.vision.frames import Frame

if TYPE_CHECKING:
    from kiosk.checkout.camera import CameraPay, Notice

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
    await u.until(lambda: sources[0].n == 0, "the camera closed")
    assert root.feed is not None and not root.feed.running


class PictureSource(ColourSource):
    """A camera stand-in showing one picture (BGR) at about 30 fps."""

    def __init__(self, picture: np.ndarray) -> None:
        super().__init__()
        self.picture = picture

    def read(self) -> Frame | None:
        frame = super().read()
        return None if frame is None else Frame(self.picture, frame.timestamp, frame.index)


class Till:
    """The checkout as `CameraPay` sees it: a state, and where a read payment code goes."""

    def __init__(self, flow_state: object) -> None:
        self.state = flow_state
        self.codes: list[str] = []

    async def scan_code(self, code: str) -> None:
        self.codes.append(code)

    async def face_matched(self, *args: object) -> None:
        raise AssertionError("no face in this test")


def camera_pay_for(till: Till) -> Callable[[Callable[[Notice], None]], CameraPay]:
    """`Services.camera_pay`: the real camera step over `till`, no faces enrolled."""
    from kiosk.checkout.camera import CameraPay
    from kiosk.face.gallery import Gallery
    from kiosk.vision.scanner import CodeScanner

    async def nobody(_member: str) -> None:
        return None

    def make(notify: Callable[[Notice], None]) -> CameraPay:
        return CameraPay(till, scanner=CodeScanner(), encoder=lambda _f: [],  # type: ignore[arg-type]
                         gallery=Gallery(background=False), consents=nobody, on_notice=notify)

    return make


def phone_showing(text: str) -> np.ndarray:
    import cv2

    from kiosk.vision.symbols import render_qr

    scene = np.full((480, 640), 110, np.uint8)
    code = render_qr(text, 5)
    h, w = code.shape
    scene[60:60 + h, 180:180 + w] = code
    return cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_the_code_screen_reads_codes_through_the_app_camera_and_says_what_it_refused(
        profile_name: str) -> None:
    """One camera for the preview and the checkout: a hostile QR is refused on screen, in the
    shopper's language; a payment code held up goes to the checkout once."""
    flow_state, message, now = state("code")
    till = Till(flow_state)
    shown: list[PictureSource] = []
    def camera() -> PictureSource:
        shown.append(PictureSource(phone_showing("javascript:alert(1)")))
        return shown[-1]

    pay = camera_pay_for(till)

    root = KioskRoot(Services(camera=camera, camera_pay=pay, now_ms=lambda: now),
                     PROFILES[profile_name])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.until(lambda: root.notice is not None, "a notice for the refused code")
    await u.settle(2)
    assert root.notice is not None and root.notice.key == "code_refused"
    assert u.has_text(root.notice.zh) and till.codes == []
    u.screenshot(f"camera-code-refused-{profile_name}", FOLDER)
    assert u.problems() == []
    root.act("lang")
    await u.settle(2)
    assert u.has_text(root.notice.en)
    assert shown and shown[0].n > 0 and len(shown) == 1  # one camera, opened once
    shown[0].picture = phone_showing("134567890123456791")  # a WeChat Pay payment code
    await u.until(lambda: till.codes != [], "the payment code handed to the checkout")
    assert till.codes == ["134567890123456791"]
    root.on_checkout(state("method")[0], [])
    await u.until(lambda: shown[0].n == 0, "the camera closed")
    assert root.notice is None


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_the_face_screen_shows_the_liveness_prompt_from_the_checkout_camera(
        profile_name: str) -> None:
    from kiosk.face.liveness import PROMPTS

    flow_state, message, now = state("face")
    till = Till(flow_state)

    pay = camera_pay_for(till)

    root = KioskRoot(Services(camera=ColourSource, camera_pay=pay, now_ms=lambda: now),
                     PROFILES[profile_name])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.until(lambda: root.notice is not None, "the liveness prompt")
    await u.settle(2)
    assert root.notice is not None and root.notice.key == "liveness_prompt"
    assert root.notice.zh in {zh for zh, _en in PROMPTS.values()}
    assert u.has_text(root.notice.zh)
    _path, pixels = u.screenshot(f"camera-face-prompt-{profile_name}", FOLDER)
    assert u.problems() == [] and not_blank(pixels)
    assert till.codes == []
    root.on_checkout(state("method")[0], [])
    await u.until(lambda: root.feed is not None and not root.feed.running, "the camera closed")
