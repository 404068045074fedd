"""Screen profiles and layout maths, the layout check, fonts and the kiosk configuration
(pure: no Kivy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.app import env
from kiosk.app.fonts import find_cjk_font, has_cjk
from kiosk.app.inspect import layout_problems
from kiosk.app.profiles import PROFILES, Rect, Scale, fit_cover, panes, qr_side

SCALES = [Scale(p, large) for p in PROFILES.values() for large in (False, True)]


# ---- profiles ---------------------------------------------------------------------------------

def test_profiles_are_the_three_terminal_screens() -> None:
    sizes = {p.name: (p.size, p.landscape, p.density) for p in PROFILES.values()}
    assert sizes == {"10in-landscape": ((1280, 800), True, 1.0),
                     "12in-landscape": ((1920, 1080), True, 1.25),
                     "12in-portrait": ((1080, 1920), False, 1.25)}


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s.profile.name}-{s.large_text}")
def test_panes_tile_the_window(scale: Scale) -> None:
    p = panes(scale)
    window = Rect(0, 0, *scale.profile.size)
    assert all(window.contains(r) for r in p.values())
    names = list(p)
    assert not any(p[a].overlaps(p[b]) for a in names for b in names if a < b)
    assert sum(r.w * r.h for r in p.values()) == pytest.approx(window.w * window.h)
    # landscape: side by side; portrait: stacked
    assert (p["main"].x < p["side"].x) == scale.profile.landscape


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s.profile.name}-{s.large_text}")
def test_touch_targets_and_qr_are_big_enough_in_real_millimetres(scale: Scale) -> None:
    assert scale.profile.mm(scale.button_height) >= 9.0
    assert scale.font("body") < scale.font("title") < scale.font("amount")
    main = panes(scale)["main"]
    for lines in range(1, 5):
        side = qr_side(main, scale, lines)
        assert scale.profile.mm(side) >= 35  # a phone scans it at arm's length
        assert side <= main.w - 2 * scale.pad
    assert scale.sp(10) == pytest.approx(scale.dp(10) * (1.3 if scale.large_text else 1))


@given(st.integers(1, 4000), st.integers(1, 4000), st.integers(1, 3000), st.integers(1, 3000),
       st.booleans())
def test_a_creative_keeps_its_shape_and_fits_unless_cover(mw: int, mh: int, bw: int, bh: int,
                                                          cover: bool) -> None:
    w, h = fit_cover(mw, mh, bw, bh, cover)
    assert w / h == pytest.approx(mw / mh, rel=1e-6)
    if cover:
        assert w >= bw - 1e-6 and h >= bh - 1e-6
    else:
        assert w <= bw + 1e-6 and h <= bh + 1e-6


def test_cjk_text_gets_a_cjk_font(tmp_path: Any) -> None:
    font = tmp_path / "cjk.ttc"
    font.write_bytes(b"x")
    assert find_cjk_font([str(tmp_path / "missing.ttc"), str(font)]) == str(font)
    assert has_cjk("中文") and has_cjk("¥10，好") and not has_cjk("Pay ¥10.00 × 2")


class FakeConfig:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {
            "input": {"mouse": "mouse", "%(name)s": "probesysfs"}}

    def set(self, section: str, key: str, value: str) -> None:
        self.values.setdefault(section, {})[key] = value

    def has_section(self, section: str) -> bool:
        return section in self.values

    def add_section(self, section: str) -> None:
        self.values[section] = {}

    def options(self, section: str) -> list[str]:
        return list(self.values[section])

    def remove_option(self, section: str, key: str) -> None:
        del self.values[section][key]


def test_kiosk_configuration_leaves_no_way_out_and_one_input_path() -> None:
    config = FakeConfig()
    env.configure_kiosk(config, (1080, 1920), fullscreen=True)
    assert config.values["kivy"]["exit_on_escape"] == "0"
    assert config.values["graphics"]["allow_screensaver"] == "0"
    assert config.values["graphics"]["fullscreen"] == "auto"
    assert config.values["input"] == {"mouse": "mouse,disable_multitouch"}
    environ: dict[str, str] = {}
    env.prepare(None, environ)
    assert environ["KIVY_NO_ARGS"] == "1" and environ["SDL_VIDEODRIVER"] == "offscreen"


@dataclass
class FakeWidget:
    x: float
    y: float
    width: float
    height: float
    kiosk_role: str | None = None
    text: str = ""
    texture_size: tuple[float, float] = (0, 0)
    children: list[Any] = field(default_factory=list)
    parent: Any = None
    opacity: float = 1

    def to_window(self, x: float, y: float) -> tuple[float, float]:
        return x, y


def test_layout_check_finds_what_a_shopper_would_notice() -> None:
    ok = FakeWidget(10, 10, 100, 40, "button", "Pay", (40, 20))
    clipped = FakeWidget(10, 60, 100, 20, "text", "A long sentence", (300, 20))
    outside = FakeWidget(1250, 10, 100, 40, "button", "Cancel", (50, 20))
    over = FakeWidget(50, 20, 100, 40, "text", "Total", (40, 20))
    hidden = FakeWidget(50, 20, 100, 40, "text", "Hidden", (40, 20), opacity=0)
    root = FakeWidget(0, 0, 1280, 800, children=[ok, clipped, outside, over, hidden])
    problems = layout_problems(root, (1280, 800))
    assert any("'A long sentence' is clipped" in p for p in problems)
    assert any("'Cancel' is outside the window" in p for p in problems)
    assert any("'Total' overlaps" in p or "overlaps text 'Total'" in p for p in problems)
    assert not any("Hidden" in p for p in problems)
    assert layout_problems(FakeWidget(0, 0, 1280, 800, children=[ok]), (1280, 800)) == []
