"""The checkout flow as a pure state machine: the paths a shopper takes."""

from __future__ import annotations

import dataclasses
from typing import Any

from checkout_flow_fixtures import (
    AUTH,
    CFG,
    OID,
    OID2,
    T0,
    Run,
    attempt_json,
    methods,
    order_json,
    result,
    to_methods,
    to_paid,
)

from kiosk.checkout.events import (
    UNREACHABLE,
    ApplyPoints,
    Back,
    Cancel,
    ChooseMethod,
    CodeScanned,
    DeclineJoin,
    EnterLast4,
    Event,
    FaceConsent,
    FaceMatched,
    OrderPushed,
    OrderUpdated,
    Reply,
    StartPayment,
    TapJoin,
    TimerFired,
)
from kiosk.checkout.states import (
    Cancelled,
    ChoosingMethod,
    Closing,
    Done,
    Failed,
    FlowConfig,
    Idle,
    Joined,
    NeedSecondFactor,
    OfferJoin,
    OrderShown,
    Paid,
    Paying,
    ScanningCode,
    ShowingQr,
)

# ---- paths --------------------------------------------------------------------------------

def test_native_qr_paid_by_notification_then_back_to_idle() -> None:
    run = Run()
    to_methods(run)
    assert methods(run) == ("native", "code")  # face needs the shopper's consent
    run.send(ChooseMethod, method="native")
    pay = run.call()
    assert (pay.method, pay.params) == ("checkout.pay", {"order_id": OID, "method": "native"})
    assert pay.idempotency_key == f"{OID}:pay:1"
    run.answer(result("paying", attempt_json()))
    assert isinstance(run.state, ShowingQr)
    assert run.state.code_url.startswith("weixin://") and run.state.deadline_ms == T0 + 120_000
    run.advance(CFG.poll_ms)
    assert run.call().method == "checkout.status"
    run.answer(result("paying", attempt_json()))
    assert isinstance(run.state, ShowingQr)
    run.send(OrderUpdated, order=order_json(state="paid"), attempt=attempt_json("paid"))
    assert isinstance(run.state, Paid)
    [paid] = run.records("checkout.paid")
    assert paid.data["order_id"] == OID and paid.data["payable_fen"] == 1300
    assert run.call().method == "member.offer"
    run.answer({"eligible": False, "brand_id": "freshmart", "points": 0, "profile": None})
    assert isinstance(run.state, Done)
    run.advance(CFG.done_ms)
    assert isinstance(run.state, Idle)


def test_payment_code_waits_for_the_shopper_to_confirm() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    assert isinstance(run.state, ScanningCode)
    assert run.send(CodeScanned, auth_code="hello") and run.calls() == []
    assert run.messages() == ["bad_code"] and isinstance(run.state, ScanningCode)
    # a trailing newline (as some scanners append) is not a payment code the controller takes
    assert run.send(CodeScanned, auth_code=AUTH + "\n") and run.calls() == []
    assert run.messages() == ["bad_code"]
    run.send(CodeScanned, auth_code=AUTH)
    assert run.call().params == {"order_id": OID, "method": "code", "auth_code": AUTH}
    run.answer(result("paying", attempt_json("waiting", "code")))
    assert isinstance(run.state, Paying) and run.state.phase == "confirming"
    run.advance(CFG.poll_ms)
    assert run.call().method == "checkout.status"
    run.answer(result("paid", attempt_json("paid", "code")))
    assert isinstance(run.state, Paid)
    assert run.records("checkout.paid")[0].data["method"] == "code"


def test_face_pay_asks_the_phone_digits_and_falls_back_after_three_wrong() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="face")
    assert isinstance(run.state, ChoosingMethod)  # not consented: not offered
    run.send(FaceConsent, given=True)
    assert methods(run) == ("native", "code", "face")
    run.send(ChooseMethod, method="face")
    run.send(FaceMatched, member_id="m-42", distance=0.31, margin=0.08, gallery_size=0)
    assert run.calls() == []  # an empty gallery cannot have matched anyone
    run.send(FaceMatched, member_id="m-42", distance=0.31, margin=0.08, gallery_size=1200)
    first = run.call()
    assert first.params == {"order_id": OID, "method": "face",
                            "face": {"member_id": "m-42", "distance": 0.31, "margin": 0.08,
                                     "gallery_size": 1200}}
    run.answer(error="second_factor_required", message="enter the last four digits")
    assert isinstance(run.state, NeedSecondFactor) and run.messages() == ["second_factor"]
    assert run.send(EnterLast4, digits="12a4") == [] and isinstance(run.state, NeedSecondFactor)
    keys = set()
    for wrong in range(1, 4):
        run.send(EnterLast4, digits="1234")
        pay = run.call()
        assert pay.params["phone_last4"] == "1234" and pay.params["face"]["member_id"] == "m-42"
        keys.add(pay.idempotency_key)
        run.answer(error="second_factor_required")
        if wrong < 3:
            assert isinstance(run.state, NeedSecondFactor) and run.state.tries == wrong
            assert run.messages() == ["wrong_digits"]
    assert len(keys) == 3 and first.idempotency_key not in keys  # each try its own request
    assert methods(run) == ("native", "code")
    assert run.messages() == ["face_fallback"]
    assert run.send(ChooseMethod, method="face") == []


def test_face_pay_with_the_right_digits_is_paid() -> None:
    run = Run()
    to_methods(run)
    run.send(FaceConsent)
    run.send(ChooseMethod, method="face")
    run.send(FaceMatched, member_id="m-42", distance=0.4, margin=0.05)
    run.answer(error="second_factor_required")
    run.send(EnterLast4, digits="5678")
    run.answer(result("paid", attempt_json("paid", "face_balance")))
    assert isinstance(run.state, Paid)
    assert run.records("checkout.paid")[0].data["method"] == "face_balance"


def test_face_is_never_offered_when_the_terminal_has_it_off() -> None:
    run = Run(FlowConfig(face_pay=False))
    to_methods(run)
    run.send(FaceConsent)
    assert methods(run) == ("native", "code")
    assert run.send(ChooseMethod, method="face") == []


def test_join_shows_the_prefilled_profile_then_credits_points() -> None:
    run = Run()
    to_paid(run)
    profile = {"display_name": "Li Wei", "masked_phone": "138****5678",
               "brands": ["teahouse"]}
    run.answer({"eligible": True, "brand_id": "freshmart", "points": 13, "profile": profile})
    assert isinstance(run.state, OfferJoin) and not run.state.confirming
    assert run.state.offer.profile is not None
    assert run.state.offer.profile.masked_phone == "138****5678"
    run.send(TapJoin)
    assert run.calls() == []
    assert isinstance(run.state, OfferJoin) and run.state.confirming  # profile shown
    run.send(TapJoin)
    join = run.call()
    assert join.method == "member.join" and join.params == {"order_id": OID, "confirm": True}
    assert join.idempotency_key is not None and join.idempotency_key.startswith(OID)
    run.answer({"member_id": "m-7", "brand_id": "freshmart", "points_credited": 13,
                "balance": 13, "coupon": {"code": "WELCOME5", "title": "5 yuan off"}})
    assert isinstance(run.state, Joined) and run.state.result.coupon is not None
    assert run.messages() == ["joined"]
    [joined] = run.records("member.joined")
    assert joined.data["points_credited"] == 13 and joined.data["prefilled"] is True
    run.advance(CFG.joined_ms)
    assert isinstance(run.state, Idle)


def test_join_without_a_known_profile_is_one_tap_and_declining_is_recorded() -> None:
    run = Run()
    to_paid(run)
    run.answer({"eligible": True, "brand_id": "freshmart", "points": 13, "profile": None})
    run.send(TapJoin)
    assert run.call().method == "member.join"
    other = Run()
    to_paid(other)
    other.answer({"eligible": True, "brand_id": "freshmart", "points": 13, "profile": None})
    other.send(DeclineJoin)
    assert isinstance(other.state, Done) and other.state.outcome == "declined"
    assert other.records("member.declined")[0].data["reason"] == "declined"
    third = Run()
    to_paid(third)
    third.answer({"eligible": True, "brand_id": "freshmart", "points": 13, "profile": None})
    third.advance(CFG.offer_ms)
    assert isinstance(third.state, Done) and third.state.outcome == "timeout"


def test_qr_expiry_asks_the_controller_to_close_the_order() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.answer(result("paying", attempt_json(expires_ms=T0 + 60_000)))
    run.timers.pop("poll")  # the controller does not answer polls here
    run.advance(60_000)
    cancel = run.call()
    assert isinstance(run.state, Closing)
    assert cancel.method == "checkout.cancel"
    assert cancel.params == {"order_id": OID, "reason": "qr_expired"}
    assert cancel.idempotency_key is not None
    run.answer({"order": order_json(state="closed")})
    assert isinstance(run.state, Cancelled)
    assert run.records("checkout.cancelled")[0].data["reason"] == "qr_expired"
    run.advance(CFG.done_ms)
    assert isinstance(run.state, Idle)


def test_a_qr_closed_by_the_controller_closes_the_order_too() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.answer(result("paying", attempt_json()))
    run.send(OrderUpdated, order=order_json(state="open"), attempt=attempt_json("closed"))
    assert isinstance(run.state, Closing) and run.call().params["reason"] == "qr_expired"
    run.send(OrderUpdated, order=order_json(state="closed"), attempt=attempt_json("closed"))
    assert isinstance(run.state, Cancelled) and run.state.reason == "qr_expired"


def test_a_qr_paid_just_before_the_close_is_shown_paid() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.answer(result("paying", attempt_json(expires_ms=T0 + 5_000)))
    run.timers.pop("poll")
    run.advance(5_000)
    run.answer({"order": order_json(state="paid")})
    assert isinstance(run.state, Paid)


def test_unknown_outcome_polls_status_and_a_lost_answer_reuses_the_key() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    first = run.call()
    run.answer(error=UNREACHABLE)  # the answer was lost
    run.advance(CFG.poll_ms)
    again = run.call()
    assert again == first  # same parameters, same idempotency key
    run.answer(error="unavailable", message="provider did not answer")
    assert isinstance(run.state, Paying) and run.state.phase == "unknown"
    for _ in range(5):
        run.advance(CFG.poll_ms)
        assert run.call().method == "checkout.status"
        run.answer(error="unavailable")
    run.send(Cancel)  # even giving up goes through the controller, never a new pay
    assert run.call().method == "checkout.cancel"
    assert [p.idempotency_key for p in run.pays()] == [first.idempotency_key] * 2
    run.answer({"order": order_json(state="paid")})
    assert isinstance(run.state, Paid)


def test_unknown_outcome_resolved_as_paid_by_status() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    run.answer(error="unavailable")
    run.advance(CFG.poll_ms)
    run.answer(result("paying", attempt_json("pending", "code")))
    assert isinstance(run.state, Paying) and run.state.phase == "unknown"
    run.advance(CFG.poll_ms)
    run.answer(result("paid", attempt_json("paid", "code")))
    assert isinstance(run.state, Paid) and len(run.pays()) == 1


def test_declined_then_another_method_is_a_new_attempt() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    run.answer(error="declined", message="NOTENOUGH: insufficient balance")
    assert isinstance(run.state, Failed) and "insufficient" in run.state.reason
    assert run.records("checkout.failed")[0].data["method"] == "code"
    run.send(ChooseMethod, method="native")
    assert run.call().idempotency_key == f"{OID}:pay:2"
    run.answer(result("paying", attempt_json(n=2)))
    assert isinstance(run.state, ShowingQr)


def test_a_failed_attempt_pushed_by_the_controller_ends_the_wait() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    run.answer(result("paying", attempt_json("waiting", "code")))
    run.send(OrderUpdated, order=order_json(state="open"),
             attempt=attempt_json("failed", "code", error="PAYERROR"))
    assert isinstance(run.state, Failed) and run.state.reason == "PAYERROR"


def test_pay_timeout_closes_and_waits_for_the_reversal() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    run.answer(result("paying", attempt_json("waiting", "code")))
    run.timers.pop("poll")
    run.advance(CFG.pay_ms)
    assert run.call().params == {"order_id": OID, "reason": "pay_timeout"}
    run.answer({"order": order_json(state="paying")})  # reversal not settled yet
    assert isinstance(run.state, Closing)
    run.advance(CFG.poll_ms)
    assert run.call().method == "checkout.status"
    run.answer(result("closed", attempt_json("reversed", "code")))
    assert isinstance(run.state, Cancelled)


def test_points_apply_updates_the_amount_and_blocks_paying_meanwhile() -> None:
    run = Run()
    run.send(OrderPushed, order=order_json())
    assert run.send(ApplyPoints, points=100) == []  # no member known
    run.send(OrderUpdated, order=order_json(member_id="m-7"))
    run.send(ApplyPoints, points=100)
    call = run.call()
    assert call.method == "points.apply"
    assert call.params == {"order_id": OID, "member_id": "m-7", "points": 100}
    assert run.send(StartPayment) == []  # the amount is about to change
    run.answer({"order": order_json(member_id="m-7", discount_fen=100, payable_fen=1200,
                                    points_used=100)})
    assert isinstance(run.state, OrderShown) and run.state.order.payable_fen == 1200
    run.send(StartPayment)
    assert isinstance(run.state, ChoosingMethod)


def test_next_order_waits_while_money_is_in_flight() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.send(OrderPushed, order=order_json(OID2))
    assert isinstance(run.state, Paying) and run.state.order.order_id == OID
    run.answer(result("paid", attempt_json("paid")))
    run.answer({"eligible": False})
    run.advance(CFG.done_ms)
    assert isinstance(run.state, OrderShown) and run.state.order.order_id == OID2


def test_nonsense_events_change_nothing() -> None:
    run = Run()
    in_idle: list[tuple[type[Event], dict[str, Any]]] = [
        (TapJoin, {}), (Cancel, {}), (Back, {}), (Reply, {"tag": "x", "ok": True}),
        (TimerFired, {"name": "screen"}), (OrderUpdated, {"order": order_json(state="paid")}),
        (OrderPushed, {"order": {"order_id": OID}})]  # malformed
    for event_type, kw in in_idle:
        assert run.send(event_type, **kw) == [] and run.state == Idle()
    to_methods(run)
    before = run.state
    on_methods: list[tuple[type[Event], dict[str, Any]]] = [
        (TapJoin, {}), (CodeScanned, {"auth_code": AUTH}), (EnterLast4, {"digits": "1234"}),
        (DeclineJoin, {}), (Reply, {"tag": "stale", "ok": True, "result": result("paid")})]
    for event_type, kw in on_methods:
        assert run.send(event_type, **kw) == [] and run.state == before


def test_the_same_order_pushed_again_never_reuses_a_key() -> None:
    run = Run()
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.answer(result("paying", attempt_json()))
    run.send(Cancel)
    run.answer({"order": order_json(state="closed")})
    run.advance(CFG.done_ms)
    to_methods(run)
    run.send(ChooseMethod, method="code")
    run.send(CodeScanned, auth_code=AUTH)
    keys = [p.idempotency_key for p in run.pays()]
    assert keys == [f"{OID}:pay:1", f"{OID}:pay:2"]


def test_timers_follow_the_screens() -> None:
    run = Run()
    to_methods(run)
    assert dataclasses.asdict(run.state)["deadline_ms"] == run.timers["screen"]
    run.advance(CFG.order_ms)  # nobody chose: the order is closed
    assert isinstance(run.state, Closing) and run.call().params["reason"] == "timeout"

