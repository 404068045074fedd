"""The app's own state around the checkout flow (pure: times are passed in, in seconds).

- `Shell`: language, large text, the overlay the shopper or technician opened (an ad's offer,
  the coupon wallet, the e-receipt, the technician PIN pad and screen) and the coupons of this
  shopper.
- `screen_for`: which screen is up — technician first, then the coupon wallet or e-receipt,
  then checkout (any state but Idle), then an ad's offer, else the attract loop.
- `IdleTimer`: no touch for `timeout_s` on an app screen -> back to the attract loop, with the
  next shopper's defaults (language, text size, no coupons). Checkout screens have their own
  deadlines in the flow and are never cut short by it.
- `OfflineNotice`: shown once the controller has been unreachable for `grace_s` (a short
  reconnect does not flash it); the attract loop plays on regardless.
- `CornerTaps`: five taps within three seconds in the top-left corner open the PIN pad.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kiosk.app.i18n import DEFAULT_LANG, LANGS

Overlay = Literal["offer", "wallet", "receipt", "tech_pin", "technician"]
TECHNICIAN: tuple[Overlay, ...] = ("tech_pin", "technician")


@dataclass(frozen=True)
class Shell:
    lang: str = DEFAULT_LANG
    large_text: bool = False
    overlay: Overlay | None = None
    offer: Mapping[str, Any] | None = None  # the touched ad: campaign_id, creative, coupon
    coupons: tuple[Mapping[str, Any], ...] = field(default=())
    receipt: Mapping[str, Any] | None = None  # the e-receipt overlay: order_id, url, status

    def toggle_lang(self) -> Shell:
        return replace(self, lang=LANGS[(LANGS.index(self.lang) + 1) % len(LANGS)])

    def toggle_large_text(self) -> Shell:
        return replace(self, large_text=not self.large_text)

    def open(self, overlay: Overlay, offer: Mapping[str, Any] | None = None) -> Shell:
        return replace(self, overlay=overlay, offer=offer if overlay == "offer" else None,
                       receipt=offer if overlay == "receipt" else None)

    def close_overlay(self) -> Shell:
        return replace(self, overlay=None, offer=None, receipt=None)

    def update_offer(self, campaign_id: str, **news: Any) -> Shell:
        """News about the open offer (its coupon, a claim's outcome); stale news is dropped."""
        if self.overlay != "offer" or (self.offer or {}).get("campaign_id") != campaign_id:
            return self
        return replace(self, offer={**(self.offer or {}), **news})

    def update_receipt(self, order_id: str, **news: Any) -> Shell:
        if self.overlay != "receipt" or (self.receipt or {}).get("order_id") != order_id:
            return self
        return replace(self, receipt={**(self.receipt or {}), **news})

    def add_coupon(self, coupon: Mapping[str, Any]) -> Shell:
        if any(c.get("code") == coupon.get("code") for c in self.coupons):
            return self
        return replace(self, coupons=(*self.coupons, dict(coupon)))

    def next_shopper(self) -> Shell:
        """The checkout is over: nothing of this shopper's stays on screen, except the
        e-receipt they are scanning (its own page; the idle timeout still ends it)."""
        if self.overlay == "receipt":
            return Shell(lang=self.lang, large_text=self.large_text, overlay="receipt",
                         receipt=self.receipt)
        keep = self.overlay if self.overlay in TECHNICIAN else None
        return Shell(overlay=keep)


def screen_for(shell: Shell, checkout_screen: str | None) -> str:
    """`checkout_screen`: `screen_name(state)` of the flow, None or "Idle" when idle."""
    if shell.overlay in TECHNICIAN:
        return shell.overlay or ""
    if shell.overlay in ("wallet", "receipt"):
        return shell.overlay
    if checkout_screen not in (None, "Idle"):
        return "checkout"
    if shell.overlay == "offer":
        return "offer"
    return "attract"


@dataclass
class IdleTimer:
    timeout_s: float
    last_touch_s: float = 0.0

    def touch(self, now_s: float) -> None:
        self.last_touch_s = now_s

    def expired(self, now_s: float) -> bool:
        return now_s - self.last_touch_s >= self.timeout_s


@dataclass
class OfflineNotice:
    grace_s: float = 10.0
    _down_since: float | None = None

    @property
    def down_since(self) -> float | None:
        return self._down_since

    def update(self, connected: bool, now_s: float) -> bool:
        """Whether the notice is up, given the link now."""
        if connected:
            self._down_since = None
            return False
        if self._down_since is None:
            self._down_since = now_s
        return now_s - self._down_since >= self.grace_s


@dataclass
class CornerTaps:
    taps: int = 5
    window_s: float = 3.0
    _times: deque[float] = field(default_factory=deque)

    def tap(self, now_s: float) -> bool:
        """Record a corner tap; True when it completes the sequence (which then restarts)."""
        self._times.append(now_s)
        while self._times and now_s - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.taps:
            self._times.clear()
            return True
        return False
