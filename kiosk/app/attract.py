"""The attract loop: the ad stage full window, a slim strip with the touch hint and the
language / text-size toggles, and the offline notice when the controller is unreachable.
A tap on the ad (anywhere but the strip) is reported to the root (`on_ad_touch`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk.app.bar import add_toggles
from kiosk.app.i18n import tr
from kiosk.app.profiles import Scale
from kiosk.app.stage import AdStage
from kiosk.app.widgets import BAR, TextLine, paint

STRIP_ALPHA = 0.72


class AttractView(FloatLayout):
    def __init__(self, on_ad_touch: Callable[[], None], on_action: Callable[[str], None],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = AdStage(size_hint=(1, 1), pos_hint={"x": 0, "y": 0})
        self.add_widget(self.stage)
        self._on_ad_touch = on_ad_touch
        self._on_action = on_action
        self.offline = False
        self.welcome: TextLine | None = None
        self.strip: BoxLayout | None = None
        self.banner: TextLine | None = None
        self.scale: Scale | None = None
        self.lang = "zh"

    def restyle(self, scale: Scale, lang: str) -> None:
        """(Re)build the strip and notices for this profile, text size and language."""
        self.scale, self.lang = scale, lang
        for w in (self.strip, self.banner, self.welcome):
            if w is not None:
                self.remove_widget(w)
        h = scale.bar_height
        strip = BoxLayout(orientation="horizontal", size_hint=(1, None), height=h,
                          pos_hint={"x": 0, "y": 0}, padding=(scale.pad, scale.dp(6)),
                          spacing=scale.spacing)
        paint(strip, (*BAR[:3], STRIP_ALPHA))
        strip.add_widget(TextLine(tr("touch_hint", lang), scale, "body",
                                  pos_hint={"center_y": 0.5}))
        add_toggles(strip, scale, lang, self._on_action, h - scale.dp(12))
        self.strip = strip
        self.add_widget(strip)
        self.welcome = TextLine(tr("no_content", lang), scale, "display", halign="center",
                                size_hint_x=1, pos_hint={"center_y": 0.55})
        self.banner = TextLine(tr("offline", lang), scale, "heading", tone="error",
                               halign="center", size_hint_x=1, pos_hint={"top": 1})
        paint(self.banner, (*BAR[:3], 0.85))
        self.add_widget(self.welcome)
        self.add_widget(self.banner)
        self.refresh()

    def set_offline(self, offline: bool) -> None:
        if offline != self.offline:
            self.offline = offline
            self.refresh()

    def refresh(self) -> None:
        if self.banner is not None:
            self.banner.opacity = 1 if self.offline else 0
        if self.welcome is not None:
            self.welcome.opacity = 0 if self.stage.current is not None else 1

    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):
            return True
        if self.collide_point(*touch.pos) and self.stage.current is not None:
            self._on_ad_touch()
            return True
        return False
