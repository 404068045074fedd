"""Screen profiles and the layout maths every view uses (pure: no Kivy).

A terminal is one of three screens: 10.1" 1280×800 landscape, 12" 1920×1080 landscape or
12" 1080×1920 portrait. Views size everything in dp (layout) and sp (text) through `Scale`:
dp = px × the profile's density (pixels per inch / 160, rounded to a quarter, as Android and
Kivy define it), sp = dp × 1.3 with large text on. The app does its own conversion rather than
Kivy's global `Metrics`, so one process can lay out any profile (tests render all three) and
Kivy's density stays 1.0 (see FIELD-NOTES: Metrics is process-wide and easy to corrupt).

`panes` cuts the window into the top bar, the main pane (order, QR, camera) and the side pane
(choices and buttons): side by side in landscape, stacked in portrait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LARGE_TEXT = 1.3
MM_PER_INCH = 25.4
MIN_TOUCH_MM = 9.0  # smallest comfortable touch target (ISO 9241-9 / platform guidelines)

FONT_SP = {"display": 44, "title": 34, "heading": 26, "body": 22, "small": 17, "amount": 52,
           "button": 24}


@dataclass(frozen=True)
class Rect:
    """Pixels, origin bottom-left (Kivy's window coordinates)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def top(self) -> float:
        return self.y + self.h

    def contains(self, other: Rect, slack: float = 0.5) -> bool:
        return (other.x >= self.x - slack and other.y >= self.y - slack
                and other.right <= self.right + slack and other.top <= self.top + slack)

    def overlaps(self, other: Rect, slack: float = 0.5) -> bool:
        return (min(self.right, other.right) - max(self.x, other.x) > slack
                and min(self.top, other.top) - max(self.y, other.y) > slack)


@dataclass(frozen=True)
class Profile:
    name: str
    width: int
    height: int
    diagonal_in: float

    @property
    def landscape(self) -> bool:
        return self.width >= self.height

    @property
    def ppi(self) -> float:
        return math.hypot(self.width, self.height) / self.diagonal_in

    @property
    def density(self) -> float:
        return max(0.75, round(self.ppi / 160 * 4) / 4)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def mm(self, px: float) -> float:
        return px / self.ppi * MM_PER_INCH


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("10in-landscape", 1280, 800, 10.1),
    Profile("12in-landscape", 1920, 1080, 12.0),
    Profile("12in-portrait", 1080, 1920, 12.0),
)}
DEFAULT_PROFILE = "10in-landscape"


def profile_for(width: int, height: int, diagonal_in: float | None = None) -> Profile:
    """The named profile of this resolution, else one made for it (12" unless told)."""
    for p in PROFILES.values():
        if p.size == (width, height) and diagonal_in in (None, p.diagonal_in):
            return p
    return Profile(f"{width}x{height}", width, height, diagonal_in or 12.0)


@dataclass(frozen=True)
class Scale:
    profile: Profile
    large_text: bool = False

    def dp(self, value: float) -> float:
        return value * self.profile.density

    def sp(self, value: float) -> float:
        return self.dp(value) * (LARGE_TEXT if self.large_text else 1.0)

    def font(self, role: str) -> float:
        return self.sp(FONT_SP[role])

    @property
    def pad(self) -> float:
        return self.dp(20)

    @property
    def spacing(self) -> float:
        return self.dp(12)

    @property
    def button_height(self) -> float:
        """Tall enough to touch and to hold one line of button text with room around it."""
        return max(self.dp(68), self.font("button") * 2.1)

    @property
    def bar_height(self) -> float:
        return max(self.dp(60), self.font("small") * 2.6)

    def line_height(self, role: str, lines: int = 1) -> float:
        return self.font(role) * 1.35 * lines


def panes(scale: Scale) -> dict[str, Rect]:
    """`bar` (top), `main` and `side`; together they tile the window without overlap."""
    w, h = scale.profile.size
    bar = scale.bar_height
    body_h = h - bar
    if scale.profile.landscape:
        main_w = round(w * 0.56)
        return {"bar": Rect(0, body_h, w, bar), "main": Rect(0, 0, main_w, body_h),
                "side": Rect(main_w, 0, w - main_w, body_h)}
    main_h = round(body_h * 0.55)
    return {"bar": Rect(0, body_h, w, bar), "main": Rect(0, body_h - main_h, w, main_h),
            "side": Rect(0, 0, w, body_h - main_h)}


def qr_side(area: Rect, scale: Scale, text_lines: int = 3) -> float:
    """The QR code's edge in a pane: square, inside the padding, leaving room for a title and
    `text_lines` lines of instructions; never below 35 mm (a phone camera at arm's length)."""
    room_w = area.w - 2 * scale.pad
    room_h = area.h - 2 * scale.pad - scale.line_height("title") - scale.line_height(
        "body", text_lines) - 2 * scale.spacing
    side = min(room_w, room_h)
    floor = 35 / MM_PER_INCH * scale.profile.ppi
    return max(min(side, room_w), min(floor, room_w))


def fit_cover(media_w: int, media_h: int, box_w: float, box_h: float,
              cover: bool = False) -> tuple[float, float]:
    """The drawn size of a creative in a box: `contain` (letterbox, nothing cut) by default,
    `cover` (fill, edges cut) on request; the aspect ratio is always kept."""
    if media_w <= 0 or media_h <= 0:
        return 0.0, 0.0
    ratio = (max if cover else min)(box_w / media_w, box_h / media_h)
    return media_w * ratio, media_h * ratio
