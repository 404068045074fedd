"""What the order on screen allows around the checkout flow (pure): the e-receipt of a paid
order, a wallet coupon to use on an open one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiosk.checkout.states import OrderShown, State

PAID_SCREENS = ("OfferJoin", "Joined", "Done")  # where the e-receipt button is offered


def paid_order_id(state: State) -> str | None:
    """The order of a checkout that has been paid (its e-receipt can be asked for)."""
    order = getattr(state, "order", None)
    if order is None or getattr(order, "state", None) not in ("paid", "refunded"):
        return None
    return str(order.order_id)


def usable_coupon(state: State, coupons: tuple[Mapping[str, Any], ...]) -> Mapping[str, Any] | None:
    """A wallet coupon of the order's brand that the order on screen could take (one coupon
    per order; the controller checks the rest: minimum spend, validity, once only)."""
    if not isinstance(state, OrderShown) or state.awaiting is not None:
        return None
    order = state.order
    if order.coupon_code or order.state != "open":
        return None
    return next((c for c in reversed(coupons) if c.get("brand_id") == order.brand_id
                 and c.get("code")), None)
