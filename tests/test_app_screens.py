"""Every screen in every screen profile, in Chinese at normal size and in English with large
text: rendered in a real Kivy window, captured to PNG (var/screenshots/screens/) and checked
for what a shopper would notice — the screen's words are there, nothing blank, nothing outside
the window, clipped or drawn over something else, the QR code scans to the payment link."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from app_harness import SHOTS, decode_qr, not_blank, ui
from app_states import COUPON, QR_URL, STATES, state

from kiosk.app.i18n import tr
from kiosk.app.profiles import PROFILES, Profile
from kiosk.app.root import KioskRoot
from kiosk.app.sample_library import SampleContent, build_sample_library, library_resolver
from kiosk.app.screens import view_for
from kiosk.app.services import Services
from kiosk.app.shell import Shell
from kiosk.checkout.states import Joined
from kiosk.playback import Playback

FOLDER = SHOTS / "screens"
VARIANTS = {"zh": Shell(lang="zh"), "en-large": Shell(lang="en", large_text=True)}


def check(name: str, expected: list[str]) -> np.ndarray:
    u = ui()
    path, pixels = u.screenshot(name, FOLDER)
    assert path.stat().st_size > 0
    assert not_blank(pixels), f"{name}: the screen is blank"
    assert u.problems() == [], f"{name}: layout problems"
    on_screen = " | ".join(u.texts())
    for text in expected:
        assert text in on_screen, f"{name}: {text!r} is not on screen: {on_screen}"
    return pixels


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleContent]:
    root = tmp_path_factory.mktemp("app-content")
    samples = root / "samples"
    now = int(time.time() * 1000)
    return {o: build_sample_library(root / o, now, orientation=o, samples_dir=samples)
            for o in ("landscape", "portrait")}


def orientation(profile: Profile) -> str:
    return "landscape" if profile.landscape else "portrait"


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_attract_loop_shows_the_playlist_ad(profile_name: str, variant: str,
                                                  content: dict[str, SampleContent]) -> None:
    profile = PROFILES[profile_name]
    sample = content[orientation(profile)]
    played: list[tuple[str, dict[str, Any]]] = []

    async def record(type_: str, data: dict[str, Any]) -> int:
        played.append((type_, data))
        return len(played)

    holder: dict[str, KioskRoot] = {}
    playback = Playback(record, show=lambda play: holder["root"].show_play(play))
    root = holder["root"] = KioskRoot(Services(playback=playback,
                                               resolve=library_resolver(sample.library)), profile)
    root.shell = VARIANTS[variant]
    root.refresh()
    u = ui()
    u.show(root, profile)
    await playback.set_playlist(sample.playlist)
    await playback.tick()
    await u.settle(8)
    on_screen = playback.on_screen
    assert on_screen is not None
    stage = root.attract.stage
    assert stage.current is not None and stage.current.texture is not None
    assert stage.current.creative == sample.library.path(on_screen.creative).name
    # The cross-fade runs on the clock and a video's first frames may still be dark: on a busy
    # machine, wait (up to the harness timeout) until the ad's picture fills the middle.
    await u.until(lambda: stage.current is not None and stage.current.opacity >= 1,
                  what="the ad's fade-in")
    await u.until(lambda: _ad_in_middle(u.capture()), what="the ad's picture on screen")
    lang = VARIANTS[variant].lang
    pixels = check(f"attract-{profile_name}-{variant}", [tr("touch_hint", lang)])
    assert "media" in u.roles()
    assert not u.has_text(tr("offline", lang))
    assert _ad_in_middle(pixels)  # the screenshot written is the one with the ad in it


def _ad_in_middle(pixels: np.ndarray) -> bool:
    """The window's middle shows a picture, not the dark app background."""
    h, w = pixels.shape[:2]
    middle = pixels[h // 3: 2 * h // 3, w // 3: 2 * w // 3]
    return bool(middle.std() > 5 or abs(float(middle.mean()) - 25) > 20)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_every_checkout_screen_fits(profile_name: str, variant: str) -> None:
    profile = PROFILES[profile_name]
    shell = VARIANTS[variant]
    u = ui()
    for name in STATES:
        flow_state, message, now = state(name)
        root = KioskRoot(Services(now_ms=lambda now=now: now), profile)
        root.shell = shell
        root.on_checkout(flow_state, [message] if message else [])
        u.show(root, profile)
        await u.settle(1)
        view = view_for(flow_state, shell.lang, message)
        assert view is not None
        expected = [view.title, *(a.label for a in view.actions)]
        pixels = check(f"{name}-{profile_name}-{variant}", expected)
        if view.qr:
            assert "qr" in u.roles()
            assert decode_qr(pixels) == QR_URL, f"{name}: the QR does not scan"
        if view.waiting:
            assert "spinner" in u.roles(), f"{name}: a wait without a spinner"
        if isinstance(flow_state, Joined):
            root.act("wallet")
            await u.settle(3)
            pixels = check(f"wallet-{profile_name}-{variant}", [tr("wallet", shell.lang)])
            assert decode_qr(pixels) == COUPON["code"]


def test_screenshots_folder_is_ignored_by_git() -> None:
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(["git", "check-ignore", "-q", str(FOLDER / "x.png")], cwd=repo,
                         check=False)
    assert out.returncode == 0
