"""The top bar of the app's screens and the language / text-size toggles it shares with the
attract loop's strip."""

from __future__ import annotations

from collections.abc import Callable

from kivy.uix.boxlayout import BoxLayout

from kiosk.app.i18n import tr
from kiosk.app.profiles import Rect, Scale
from kiosk.app.widgets import BAR, KioskButton, TextLine, paint


def add_toggles(box: BoxLayout, scale: Scale, lang: str, on_action: Callable[[str], None],
                height: float) -> None:
    """"Large text" (or "Normal text") and the other language, as two buttons."""
    width = scale.dp(150) * (1.3 if scale.large_text else 1)
    large = "normal_text" if scale.large_text else "large_text"
    for action, key in (("large_text", large), ("lang", "lang_toggle")):
        box.add_widget(KioskButton(tr(key, lang), scale, action, on_action,
                                   size_hint=(None, None), width=width, height=height,
                                   pos_hint={"center_y": 0.5}))


def top_bar(scale: Scale, lang: str, rect: Rect, on_action: Callable[[str], None]) -> BoxLayout:
    bar = BoxLayout(orientation="horizontal", size_hint=(None, None), pos=(rect.x, rect.y),
                    size=(rect.w, rect.h), padding=(scale.pad, scale.dp(6)),
                    spacing=scale.spacing)
    paint(bar, BAR)
    bar.add_widget(TextLine(tr("self_checkout", lang), scale, "small",
                            pos_hint={"center_y": 0.5}))
    add_toggles(bar, scale, lang, on_action, rect.h - scale.dp(12))
    return bar
