"""Every checkout screen's state, reached by driving the real flow (`flow.step`) with
wire-shaped controller answers, for rendering tests (no controller needed)."""

from __future__ import annotations

from collections.abc import Callable

from checkout_flow_fixtures import (
    AUTH,
    CFG,
    Run,
    attempt_json,
    order_json,
    result,
    to_methods,
    to_paid,
)

from kiosk.checkout.events import (
    ApplyPoints,
    Cancel,
    ChooseMethod,
    CodeScanned,
    DeclineJoin,
    FaceConsent,
    FaceMatched,
    OrderPushed,
    ShowMessage,
    StartPayment,
    TapJoin,
)
from kiosk.checkout.states import FlowConfig, State

MEMBER = "m-0123456789abcdef"
QR_URL = "weixin://wxpay/bizpayurl?pr=abc"
PROFILE = {"display_name": "Carol", "masked_phone": "137****1111", "brands": ["teahouse"]}
COUPON = {"code": "WELCOME-7K3Q-9", "brand_id": "freshmart", "kind": "welcome",
          "title": "¥5 off from ¥30", "amount_off_fen": 500, "percent_off": None,
          "min_spend_fen": 3000, "valid_to_ms": 1_800_000_000_000}
ITEMS = [{"sku": "A1", "name": "Organic whole milk 1 L", "qty": 2, "unit_fen": 650,
          "category": "dairy"},
         {"sku": "B7", "name": "Sourdough loaf", "qty": 1, "unit_fen": 1290, "category": "bakery"},
         {"sku": "C3", "name": "Free-range eggs (10)", "qty": 1, "unit_fen": 1880,
          "category": "fresh"}]


def _run(cfg: FlowConfig = CFG) -> Run:
    return Run(cfg)


def _order() -> Run:
    r = _run()
    r.send(OrderPushed, order=order_json(items=ITEMS, amount_fen=4470, payable_fen=4470))
    return r


def _member_order() -> Run:
    r = _run()
    r.send(OrderPushed, order=order_json(items=ITEMS, amount_fen=4470, payable_fen=4470,
                                         member_id=MEMBER))
    return r


MEMBER_ITEMS = [ITEMS[0] | {"member_unit_fen": 590}, ITEMS[1],
                ITEMS[2] | {"member_unit_fen": 1680}]


def _member_prices() -> Run:
    """Member prices on two items; the shopper is not known as a member (yet)."""
    r = _run()
    r.send(OrderPushed, order=order_json(items=MEMBER_ITEMS, amount_fen=4470, payable_fen=4470,
                                         member_amount_fen=4150, member_saving_fen=320,
                                         member_payable_fen=4150))
    return r


def _member_prices_applied() -> Run:
    """A member of the brand: the member prices are part of the discount."""
    r = _run()
    r.send(OrderPushed, order=order_json(items=MEMBER_ITEMS, amount_fen=4470, discount_fen=320,
                                         payable_fen=4150, member_id=MEMBER,
                                         member_amount_fen=4150, member_saving_fen=320,
                                         member_discount_fen=320, member_payable_fen=4150))
    return r


def _applied() -> Run:
    r = _member_order()
    r.send(ApplyPoints, points=10**9)
    r.answer({"order": order_json(items=ITEMS, amount_fen=4470, discount_fen=1000,
                                  payable_fen=3470, member_id=MEMBER, points_used=1000)})
    return r


def _applying() -> Run:
    r = _member_order()
    r.send(ApplyPoints, points=10**9)
    return r


def _methods() -> Run:
    r = _run()
    to_methods(r)
    return r


def _methods_consent() -> Run:
    r = _run()
    r.send(OrderPushed, order=order_json())
    r.send(StartPayment)
    return r


def _face_methods() -> Run:
    r = _methods_consent()
    r.send(FaceConsent, given=True)
    return r


def _sending() -> Run:
    r = _methods()
    r.send(ChooseMethod, method="native")
    return r


def _qr() -> Run:
    r = _sending()
    r.answer(result("paying", attempt_json(code_url=QR_URL, expires_ms=r.now + 120_000)))
    return r


def _code() -> Run:
    r = _methods()
    r.send(ChooseMethod, method="code")
    return r


def _confirming() -> Run:
    r = _code()
    r.send(CodeScanned, auth_code=AUTH)
    r.answer(result("paying", attempt_json("waiting", method="code")))
    return r


def _unknown() -> Run:
    r = _code()
    r.send(CodeScanned, auth_code=AUTH)
    r.answer(error="unavailable", message="provider timeout")
    return r


def _face() -> Run:
    r = _face_methods()
    r.send(ChooseMethod, method="face")
    return r


def _last4() -> Run:
    r = _face()
    r.send(FaceMatched, member_id=MEMBER, distance=0.31, margin=0.05)
    r.answer(error="second_factor_required", message="last 4 digits needed")
    return r


def _closing() -> Run:
    r = _qr()
    r.send(Cancel)
    return r


def _cancelled() -> Run:
    r = _closing()
    r.answer({"order": order_json(state="closed"), "attempt": None})
    return r


def _failed() -> Run:
    r = _code()
    r.send(CodeScanned, auth_code=AUTH)
    r.answer(error="declined", message="NOTENOUGH: the balance is not enough")
    return r


def _paid() -> Run:
    r = _run()
    to_paid(r)
    return r


def _offer(profile: bool = False) -> Run:
    r = _paid()
    r.answer({"eligible": True, "brand_id": "freshmart", "points": 13,
              "profile": PROFILE if profile else None})
    return r


def _offer_profile() -> Run:
    r = _offer(profile=True)
    r.send(TapJoin)
    return r


def _joining() -> Run:
    r = _offer()
    r.send(TapJoin)
    return r


def _joined() -> Run:
    r = _joining()
    r.answer({"member_id": MEMBER, "brand_id": "freshmart", "points_credited": 13,
              "balance": 13, "coupon": COUPON})
    return r


def _done() -> Run:
    r = _offer()
    r.send(DeclineJoin)
    return r


def _join_failed() -> Run:
    r = _joining()
    r.answer(error="conflict", message="the order is not paid")
    return r


STATES: dict[str, Callable[[], Run]] = {
    "order": _order, "order_member": _member_order, "order_points_used": _applied,
    "order_member_prices": _member_prices, "order_member_applied": _member_prices_applied,
    "applying": _applying, "method": _methods, "method_face_consent": _methods_consent,
    "method_face": _face_methods, "paying_sending": _sending, "qr": _qr, "code": _code,
    "paying_confirming": _confirming, "paying_unknown": _unknown, "face": _face,
    "last4": _last4, "closing": _closing, "cancelled": _cancelled, "failed": _failed,
    "paid": _paid, "offer": _offer, "offer_profile": _offer_profile, "joining": _joining,
    "joined": _joined, "done": _done, "join_failed": _join_failed,
}


def state(name: str) -> tuple[State, ShowMessage | None, int]:
    """The state, the message the flow showed on entering it, and the flow's clock (ms)."""
    r = STATES[name]()
    shown = [e for e in r.last if isinstance(e, ShowMessage)]
    return r.state, (shown[-1] if shown else None), r.now
