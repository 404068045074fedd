"""The app's own controller calls (no Kivy): an e-receipt link, an ad's offer, a coupon claim.

The checkout flow makes its own calls (`kiosk.checkout`); these are the few the app screens
make around it. Each returns the call's result, or raises `CallFailed` with the controller's
error code (`not_found`, `conflict`, `rate_limited`, ...) or `offline` when the controller
could not be reached. A claim carries an idempotency key made once per tap, and a lost answer
is asked again with the same key: the shopper never gets two coupons for one tap.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

import aiomqtt

from kiosk.agent.agent import NotConnectedError
from kiosk.wire.messages import Response

LOST = (NotConnectedError, TimeoutError, aiomqtt.MqttError)


class Requester(Protocol):
    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float = 10.0, idempotency_key: str | None = None) -> Response: ...


class CallFailed(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class AppCalls:
    def __init__(self, agent: Requester, *, timeout_s: float = 8.0, tries: int = 2,
                 new_key: Callable[[], str] = lambda: secrets.token_hex(12)) -> None:
        self.agent = agent
        self.timeout_s = timeout_s
        self.tries = tries
        self.new_key = new_key

    async def _call(self, method: str, params: dict[str, Any],
                    key: str | None = None) -> dict[str, Any]:
        for attempt in range(self.tries):
            try:
                response = await self.agent.request(method, params, timeout=self.timeout_s,
                                                    idempotency_key=key)
                break
            except LOST as exc:
                if attempt == self.tries - 1:
                    raise CallFailed("offline", str(exc) or type(exc).__name__) from None
        if not response.ok:
            error = response.error
            raise CallFailed(error.code if error else "error", error.message if error else "")
        return dict(response.result or {})

    async def receipt_link(self, order_id: str) -> dict[str, Any]:
        """`{url, expires_ms}`: where the shopper's phone shows this order's e-receipt."""
        return await self._call("receipt.link", {"order_id": order_id})

    async def ad_offer(self, campaign_id: str) -> dict[str, Any]:
        """The touched ad's offer: `{campaign_id, brand_id, title, coupon (or None)}`."""
        return await self._call("ad.offer", {"campaign_id": campaign_id})

    async def claim_coupon(self, campaign_id: str) -> dict[str, Any]:
        """One tap on "claim": the coupon (`coupon_wire` form) for the shopper's wallet."""
        result = await self._call("coupon.claim", {"campaign_id": campaign_id},
                                  key=self.new_key())
        coupon = result.get("coupon")
        if not isinstance(coupon, dict):
            raise CallFailed("error", "coupon.claim answered without a coupon")
        return coupon

