"""Styled Kivy building blocks, sized from a `profiles.Scale` (thin: no decisions here).

Every widget a shopper can see or touch carries `kiosk_role` ("text", "button", "qr",
"camera", "media", "keypad", "spinner"), which the layout check (`kiosk.app.inspect`) and the
tests use to find what is on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, Line, Rectangle
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.app.fonts import font_for
from kiosk.app.profiles import Scale

RGBA = tuple[float, float, float, float]
BG: RGBA = (0.09, 0.11, 0.13, 1)
PANEL: RGBA = (0.14, 0.16, 0.19, 1)
BAR: RGBA = (0.05, 0.06, 0.08, 1)
TEXT: RGBA = (0.96, 0.97, 0.98, 1)
MUTED: RGBA = (0.72, 0.76, 0.8, 1)
TONES: dict[str, RGBA] = {"info": TEXT, "ok": (0.45, 0.9, 0.5, 1), "error": (1, 0.47, 0.42, 1)}
PRIMARY: RGBA = (0.1, 0.62, 0.3, 1)
SECONDARY: RGBA = (0.25, 0.29, 0.34, 1)


def paint(widget: Widget, rgba: RGBA) -> Widget:
    """A solid background that follows the widget's position and size."""
    with widget.canvas.before:
        Color(*rgba)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)
    return widget


class TextLine(Label):
    """A wrapped line of text whose height follows its content (never clipped by its box)."""

    def __init__(self, text: str, scale: Scale, role: str = "body", tone: str = "info",
                 halign: str = "left", **kwargs: Any) -> None:
        super().__init__(text=text, font_size=scale.font(role), font_name=font_for(text),
                         color=TONES.get(tone, TEXT), halign=halign, valign="middle",
                         size_hint_y=None, **kwargs)
        self.kiosk_role = "text"
        self.bind(width=self._wrap, texture_size=self._grow)
        self._wrap()

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width), None)

    def _grow(self, *_: Any) -> None:
        self.height = self.texture_size[1]


class KioskButton(Button):
    def __init__(self, text: str, scale: Scale, action: str, on_press: Callable[[str], None],
                 primary: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("size_hint_y", None)
        kwargs.setdefault("height", scale.button_height)
        super().__init__(text=text, font_size=scale.font("button"), font_name=font_for(text),
                         halign="center", valign="middle", background_normal="",
                         background_color=PRIMARY if primary else SECONDARY, color=TEXT,
                         **kwargs)
        self.kiosk_role = "button"
        self.action = action
        self._min_height = self.height
        self._text_pad = scale.dp(16)
        self.bind(size=self._wrap, texture_size=self._grow)
        self._wrap()
        self.bind(on_release=lambda *_: on_press(action))

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width - self._text_pad), None)

    def _grow(self, *_: Any) -> None:
        if self.size_hint_y is None:
            self.height = max(self._min_height, self.texture_size[1] + self._text_pad)


def column(scale: Scale, **kwargs: Any) -> BoxLayout:
    kwargs.setdefault("padding", scale.pad)
    kwargs.setdefault("spacing", scale.spacing)
    return BoxLayout(orientation="vertical", **kwargs)


class BusyArc(Widget):
    """A turning arc: something is in progress and its outcome is not known yet."""

    angle = NumericProperty(0.0)

    def __init__(self, scale: Scale, **kwargs: Any) -> None:
        side = scale.dp(72)
        super().__init__(size_hint=(None, None), size=(side, side), **kwargs)
        self.kiosk_role = "spinner"
        with self.canvas:
            Color(*TONES["ok"])
            self._arc = Line(width=scale.dp(5), cap="round")
        self.bind(pos=self._draw, size=self._draw, angle=self._draw)
        self._turn = Clock.schedule_interval(self._step, 1 / 30)
        self._draw()

    def _step(self, dt: float) -> None:
        if self.parent is None:
            self._turn.cancel()
            return
        self.angle = (self.angle + 300 * dt) % 360

    def _draw(self, *_: Any) -> None:
        r = min(self.width, self.height) / 2 - 4
        cx, cy = self.center
        self._arc.circle = (cx, cy, r, self.angle, self.angle + 270)


def spacer() -> Widget:
    return Widget()
