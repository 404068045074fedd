"""A numeric keypad (phone digits, technician PIN): digits show as typed or as dots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk.app.i18n import tr
from kiosk.app.profiles import Scale
from kiosk.app.widgets import KioskButton, TextLine


class Keypad(BoxLayout):
    def __init__(self, scale: Scale, lang: str, on_submit: Callable[[str], None], *,
                 length: int = 4, mask: bool = False, auto_submit: bool = True,
                 **kwargs: Any) -> None:
        key_h = max(scale.dp(60), scale.font("button") * 1.9)
        rows = 4
        kwargs.setdefault("size_hint_y", None)
        super().__init__(orientation="vertical", spacing=scale.spacing, **kwargs)
        self.kiosk_role = "keypad"
        self.digits = ""
        self.length, self.mask, self.auto_submit = length, mask, auto_submit
        self._submit = on_submit
        self.display = TextLine(self._shown(), scale, "amount", halign="center")
        grid = GridLayout(cols=3, spacing=scale.spacing, size_hint_y=None,
                          height=rows * key_h + (rows - 1) * scale.spacing)
        keys = [*"123456789", "delete", "0", "ok"]
        for key in keys:
            label = tr(key, lang) if key in ("delete", "ok") else key
            grid.add_widget(KioskButton(label, scale, f"key:{key}", self.press,
                                         primary=key == "ok", height=key_h))
        self.add_widget(self.display)
        self.add_widget(grid)
        self.height = self.display.height + grid.height + scale.spacing
        self.display.bind(height=lambda *_: setattr(
            self, "height", self.display.height + grid.height + scale.spacing))

    def _shown(self) -> str:
        shown = ("•" * len(self.digits)) if self.mask else self.digits
        return " ".join(shown.ljust(self.length, "_"))

    def press(self, action: str) -> None:
        key = action.removeprefix("key:")
        if key == "delete":
            self.digits = self.digits[:-1]
        elif key == "ok":
            if self.digits:
                self._send()
            return
        elif len(self.digits) < self.length:
            self.digits += key
        self.display.text = self._shown()
        if self.auto_submit and len(self.digits) == self.length:
            self._send()

    def _send(self) -> None:
        digits, self.digits = self.digits, ""
        self.display.text = self._shown()
        self._submit(digits)
