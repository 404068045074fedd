"""Around the checkout flow: which paid order an e-receipt is for, which wallet coupon the
order on screen may take."""

from __future__ import annotations

from app_states import COUPON, state

from kiosk.app.order_extras import paid_order_id, usable_coupon

OTHER_BRAND = COUPON | {"code": "TEA-4Q7Z-2M", "brand_id": "teahouse"}
AD_COUPON = COUPON | {"code": "AD4Q-7Z2M-KX", "kind": "campaign"}


def test_a_coupon_of_the_orders_brand_is_offered_once_and_only_on_an_open_order() -> None:
    order, _, _ = state("order")
    assert usable_coupon(order, ()) is None
    assert usable_coupon(order, (OTHER_BRAND,)) is None  # another brand's coupon: never
    assert usable_coupon(order, (COUPON, OTHER_BRAND, AD_COUPON)) == AD_COUPON  # the newest
    assert usable_coupon(state("applying")[0], (AD_COUPON,)) is None  # an answer awaited
    assert usable_coupon(state("method")[0], (AD_COUPON,)) is None  # past the order screen
    assert usable_coupon(state("paid")[0], (AD_COUPON,)) is None


def test_an_e_receipt_is_for_a_paid_order_only() -> None:
    assert paid_order_id(state("order")[0]) is None
    assert paid_order_id(state("qr")[0]) is None
    joined = state("joined")[0]
    assert paid_order_id(joined) == joined.order.order_id  # type: ignore[union-attr]
