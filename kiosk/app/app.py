"""The Kivy `App`: kiosk behaviour around the root widget.

- no way out for a shopper: Escape does nothing (`env.configure_kiosk`), a window-close
  request is vetoed (`on_request_close`) unless the technician chose "Exit kiosk mode";
- the watchdog is fed from the Kivy clock (a frozen UI stops feeding it) and told READY once
  the first ad frame is on screen (or after `READY_AFTER_S` without content);
- `stats()` gives the figures `bench/kiosk.py` reads (first ad frame, fades, frame rate).
"""

from __future__ import annotations

import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window

from kiosk.app.profiles import Profile
from kiosk.app.root import KioskRoot
from kiosk.app.services import Services
from kiosk.app.watchdog import Watchdog
from kiosk.app.widgets import BG

READY_AFTER_S = 10.0


def close_vetoed(allow_exit: bool) -> bool:
    """Kivy's `on_request_close` contract: True keeps the window open."""
    return not allow_exit


class KioskApp(App):
    title = "Store terminal"

    def __init__(self, services: Services, profile: Profile, *,
                 watchdog: Watchdog | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.profile = profile
        self.watchdog = watchdog or Watchdog()
        self.allow_exit = False
        self.kiosk_root: KioskRoot | None = None
        self.started_s = time.monotonic()
        self.ready_sent = False
        services.exit = self.leave

    def build(self) -> KioskRoot:
        Window.clearcolor = BG
        Window.bind(on_request_close=self.on_request_close)
        root = KioskRoot(self.services, self.profile)
        self.kiosk_root = root
        self._events = [
            Clock.schedule_interval(lambda _dt: self.watchdog.ping(), self.watchdog.interval_s),
            Clock.schedule_interval(self._maybe_ready, 0.1)]
        return root

    def on_stop(self) -> None:
        for event in getattr(self, "_events", []):
            event.cancel()
        Window.unbind(on_request_close=self.on_request_close)

    def on_request_close(self, *_args: Any, **_kwargs: Any) -> bool:
        return close_vetoed(self.allow_exit)

    def leave(self) -> None:
        """The technician's exit: the only way the app stops on purpose."""
        self.allow_exit = True
        self.watchdog.stopping()
        self.stop()

    def _maybe_ready(self, _dt: float) -> bool:
        root = self.kiosk_root
        first = root is not None and root.attract.stage.first_frame_s is not None
        if first or time.monotonic() - self.started_s > READY_AFTER_S:
            self.watchdog.ready()
            self.watchdog.ping()
            self.ready_sent = True
            return False
        return True

    def stats(self) -> dict[str, Any]:
        root = self.kiosk_root
        stage = root.attract.stage if root is not None else None
        return {
            "first_frame_s": stage.first_frame_s if stage else None,
            "shown": stage.shown if stage else 0,
            "fade_frames": stage.fade_frames if stage else 0,
            "fade_seconds": round(stage.fade_seconds, 3) if stage else 0.0,
            "screen": root.screen if root else None,
            "offline": root.attract.offline if root else None,
            "fps": round(Clock.get_fps(), 1),
            "watchdog_pings": self.watchdog.pings,
        }
