"""Draws a `screens.View` into the main and side panes (thin: layout only).

Main pane: title, order rows and totals, the QR, the camera preview or a spinner, the lines.
Side pane: the keypad (when asked) and the action buttons, bottom-aligned within thumb reach.
The panes' rectangles come from `profiles.panes`; everything inside is sized from `Scale`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.image import Image
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.app.camera import CameraPreview
from kiosk.app.i18n import tr
from kiosk.app.keypad import Keypad
from kiosk.app.profiles import Rect, Scale, panes, qr_side
from kiosk.app.qr import QrImage
from kiosk.app.screens import View, seconds_left
from kiosk.app.widgets import BG, PANEL, BusyArc, KioskButton, TextLine, column, paint
from kiosk.vision.frames import Frame


@dataclass
class PageContext:
    scale: Scale
    lang: str
    on_action: Callable[[str], None]
    on_digits: Callable[[str], None]
    now_ms: Callable[[], int]
    # the app's camera: its newest frame, and whether it failed to open (None: no camera)
    frames: Callable[[], Frame | None] | None = None
    camera_failed: Callable[[], bool] = lambda: False


class Page(FloatLayout):
    """One rendered view; `tick()` refreshes its countdown, `stop()` frees the camera."""

    def __init__(self, view: View, ctx: PageContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.ctx = ctx
        self.camera: CameraPreview | None = None
        self.countdown: TextLine | None = None
        self.keypad: Keypad | None = None
        rects = panes(ctx.scale)
        main, side = rects["main"], rects["side"]
        self.add_widget(_placed(paint(self._main(view, main), PANEL), main))
        self.add_widget(_placed(paint(self._side(view), BG), side))
        self.tick()

    def _main(self, view: View, area: Rect) -> BoxLayout:
        s, t = self.ctx.scale, self.ctx.lang
        box = column(s)
        box.add_widget(TextLine(view.title, s, "title", tone=view.tone))
        for label, amount in view.rows:
            box.add_widget(_row(label, amount, s, "body"))
        for label, amount in view.totals:
            box.add_widget(_row(label, amount, s, "small") if amount
                           else TextLine(label, s, "small"))
        if view.qr:
            side = qr_side(area, s, text_lines=len(view.lines) + 2)
            box.add_widget(_centred(QrImage(view.qr, side), side))
        if view.picture:
            picture = Image(source=view.picture, fit_mode="contain", size_hint_y=1)
            picture.kiosk_role = "picture"
            box.add_widget(picture)
        if view.camera:
            if self.ctx.frames is None or self.ctx.camera_failed():
                box.add_widget(TextLine(tr("camera_off", t), s, tone="error"))
            else:
                self.camera = CameraPreview(self.ctx.frames)
                box.add_widget(self.camera)
        if view.waiting:
            spinner = BusyArc(s)
            box.add_widget(_centred(spinner, spinner.height))
        for line in view.lines:
            box.add_widget(TextLine(line.text, s, line.role, tone=line.tone))
        if view.deadline_ms:
            self.countdown = TextLine("", s, "small")
            box.add_widget(self.countdown)
        if view.detail:
            scroll = ScrollView(do_scroll_x=False)
            scroll.add_widget(TextLine("\n".join(view.detail), s, "small"))
            box.add_widget(scroll)
        elif not view.camera and not view.picture:
            box.add_widget(Widget())  # pushes the content up
        return box

    def _side(self, view: View) -> BoxLayout:
        s = self.ctx.scale
        box = column(s)
        box.add_widget(Widget())
        if view.keypad:
            self.keypad = Keypad(s, self.ctx.lang, self.ctx.on_digits,
                                 length=8 if view.secret else 4, mask=view.secret,
                                 auto_submit=not view.secret)
            box.add_widget(self.keypad)
        for action in view.actions:
            box.add_widget(KioskButton(action.label, s, action.id, self.ctx.on_action,
                                        primary=action.primary))
        return box

    def tick(self) -> None:
        if self.countdown is not None:
            left = seconds_left(self.view.deadline_ms, self.ctx.now_ms())
            self.countdown.text = tr("qr_expires", self.ctx.lang, seconds=left or 0)

    def stop(self) -> None:
        if self.camera is not None:
            self.camera.stop()


def _placed(widget: Widget, rect: Rect) -> Widget:
    widget.size_hint = (None, None)
    widget.pos = (rect.x, rect.y)
    widget.size = (rect.w, rect.h)
    return widget


def _centred(widget: Widget, height: float) -> AnchorLayout:
    holder = AnchorLayout(size_hint_y=None, height=height)
    holder.add_widget(widget)
    return holder


def _row(label: str, amount: str, s: Scale, role: str) -> BoxLayout:
    row = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=s.spacing)
    left = TextLine(label, s, role)
    right = TextLine(amount, s, role, halign="right", size_hint_x=0.4)
    row.add_widget(left)
    row.add_widget(right)

    def fit(*_: Any) -> None:
        row.height = max(left.height, right.height)

    left.bind(height=fit)
    right.bind(height=fit)
    fit()
    return row
