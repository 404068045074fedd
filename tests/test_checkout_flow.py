"""The checkout flow as a pure state machine: paths a shopper takes, and random event storms."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kiosk.checkout.events import (
    UNREACHABLE,
    ApplyCoupon,
    ApplyPoints,
    Back,
    CallController,
    Cancel,
    CancelTimer,
    ChooseMethod,
    CodeScanned,
    DeclineJoin,
    Effect,
    EnterLast4,
    Event,
    FaceConsent,
    FaceMatched,
    OrderPushed,
    OrderUpdated,
    RecordEvent,
    Reply,
    ShowMessage,
    StartPayment,
    StartTimer,
    TapJoin,
    TimerFired,
)
from kiosk.checkout.flow import step
from kiosk.checkout.states import (
    Cancelled,
    ChoosingMethod,
    Closing,
    Done,
    FaceMatching,
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
    State,
)

T0 = 1_700_000_000_000
OID = "oabcdefgh2345"
OID2 = "oqrstuvwx6723"
AUTH = "134567890123456789"
CFG = FlowConfig(face_pay=True)


def order_json(oid: str = OID, **kw: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "order_id": oid, "store_id": "sh-01", "device_id": "t-1", "brand_id": "freshmart",
        "items": [{"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650,
                   "category": "dairy"}],
        "amount_fen": 1300, "discount_fen": 0, "payable_fen": 1300, "state": "open",
        "member_id": None, "points_used": 0, "coupon_code": None, "created_ms": T0,
        "expires_ms": T0 + 15 * 60_000}
    return o | kw


def attempt_json(state: str = "waiting", method: str = "native", n: int = 1,
                 oid: str = OID, **kw: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "out_trade_no": f"{oid}-{n}", "method": method, "state": state,
        "code_url": "weixin://wxpay/bizpayurl?pr=abc" if method == "native" else None,
        "expires_ms": T0 + 120_000, "error": None}
    return a | kw


def result(order_state: str = "paying", attempt: dict[str, Any] | None = None,
           oid: str = OID) -> dict[str, Any]:
    return {"order": order_json(oid, state=order_state), "attempt": attempt}


class Run:
    """Feeds events to `step` and keeps what a driver would: the clock, pending timers."""

    def __init__(self, cfg: FlowConfig = CFG) -> None:
        self.cfg = cfg
        self.state: State = Idle()
        self.now = T0
        self.timers: dict[str, int] = {}
        self.log: list[Effect] = []
        self.last: list[Effect] = []

    def send(self, event_type: type[Event], **kw: Any) -> list[Effect]:
        event = event_type(now_ms=self.now, **kw)
        if isinstance(event, TimerFired):
            self.timers.pop(event.name, None)
        self.state, self.last = step(self.state, event, self.cfg)
        for e in self.last:
            if isinstance(e, StartTimer):
                self.timers[e.name] = e.at_ms
            elif isinstance(e, CancelTimer):
                self.timers.pop(e.name, None)
        self.log += self.last
        return self.last

    def advance(self, ms: int) -> None:
        """Let time pass, firing due timers in order."""
        until = self.now + ms
        while self.timers and min(self.timers.values()) <= until:
            name, at = min(self.timers.items(), key=lambda kv: kv[1])
            self.now = max(self.now, at)
            self.send(TimerFired, name=name)
        self.now = until

    def calls(self) -> list[CallController]:
        return [e for e in self.last if isinstance(e, CallController)]

    def call(self) -> CallController:
        [c] = self.calls()
        return c

    def answer(self, res: dict[str, Any] | None = None, *, error: str | None = None,
               message: str = "") -> list[Effect]:
        assert not isinstance(self.state, Idle) and self.state.awaiting is not None
        return self.send(Reply, tag=self.state.awaiting, ok=error is None, result=res,
                         error=error, message=message)

    def records(self, type_: str) -> list[RecordEvent]:
        return [e for e in self.log if isinstance(e, RecordEvent) and e.type == type_]

    def messages(self) -> list[str]:
        return [e.code for e in self.last if isinstance(e, ShowMessage)]

    def pays(self) -> list[CallController]:
        return [e for e in self.log if isinstance(e, CallController)
                and e.method == "checkout.pay"]


def methods(run: Run) -> tuple[str, ...]:
    assert isinstance(run.state, ChoosingMethod)
    return run.state.methods


def to_methods(run: Run, oid: str = OID, **order: Any) -> None:
    run.send(OrderPushed, order=order_json(oid, **order))
    assert isinstance(run.state, OrderShown)
    run.send(StartPayment)
    assert isinstance(run.state, ChoosingMethod)


def to_paid(run: Run) -> None:
    to_methods(run)
    run.send(ChooseMethod, method="native")
    run.answer(result("paying", attempt_json()))
    run.send(OrderUpdated, order=order_json(state="paid"),
             attempt=attempt_json("paid"))
    assert isinstance(run.state, Paid)


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
    run.send(FaceMatched, member_id="m-42", distance=0.31, margin=0.08)
    first = run.call()
    assert first.params == {"order_id": OID, "method": "face",
                            "face": {"member_id": "m-42", "distance": 0.31, "margin": 0.08}}
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


# ---- random storms ------------------------------------------------------------------------

ERRORS = [UNREACHABLE, "unavailable", "declined", "second_factor_required", "conflict",
          "not_found", "expired", "bad_request"]
DEFINITE_PAY_ERRORS = {"declined", "second_factor_required", "conflict", "not_found", "expired",
                       "bad_request"}
ORDER_STATES = ["open", "paying", "paid", "closed"]
ATTEMPT_STATES = ["pending", "waiting", "paid", "failed", "closed", "reversed"]
SHOPPER: list[tuple[type[Event], dict[str, Any]]] = [
    (StartPayment, {}), (ChooseMethod, {"method": "native"}), (ChooseMethod, {"method": "code"}),
    (ChooseMethod, {"method": "face"}), (ChooseMethod, {"method": "cash"}),
    (FaceConsent, {"given": True}), (FaceConsent, {"given": False}),
    (CodeScanned, {"auth_code": AUTH}), (CodeScanned, {"auth_code": "12"}),
    (FaceMatched, {"member_id": "m-42", "distance": 0.3, "margin": 0.1}),
    (FaceMatched, {"member_id": "", "distance": 9.0, "margin": -1.0}),
    (EnterLast4, {"digits": "1234"}), (EnterLast4, {"digits": "12"}), (TapJoin, {}),
    (DeclineJoin, {}), (Back, {}), (Cancel, {}), (ApplyPoints, {"points": 50}),
    (ApplyCoupon, {"code": "SPRING"}),
]



def _says_paid(order: dict[str, Any] | None, attempt: dict[str, Any] | None) -> bool:
    return bool((order and order.get("state") == "paid")
                or (attempt and attempt.get("state") == "paid"))


def _ends_attempts(order: dict[str, Any] | None, attempt: dict[str, Any] | None) -> bool:
    """The controller said every attempt of this order is over (or the current one failed)."""
    return bool((order and order.get("state") in ("paid", "closed"))
                or (attempt and attempt.get("state") in ("paid", "failed", "closed",
                                                         "reversed")))


class CheckoutStorm(RuleBasedStateMachine):
    """Random controller answers, pushes, taps and clock jumps. The test plays a controller
    that may say anything; the flow must keep its promises whatever it hears."""

    def __init__(self) -> None:
        super().__init__()
        self.run = Run(FlowConfig(face_pay=True))
        self.calls: dict[str, CallController] = {}
        self.pay_params: dict[str, dict[str, Any]] = {}
        self.live: set[str] = set()  # pay keys whose attempt may still move money

    # -- feeding ----------------------------------------------------------------------------

    def feed(self, event_type: type[Event], *, says_paid: bool = False, **kw: Any) -> None:
        before = self.run.state
        effects = self.run.send(event_type, **kw)
        after = self.run.state
        for e in effects:
            if isinstance(e, CallController):
                self.calls[e.tag] = e
                if e.method != "checkout.pay":
                    continue
                key = e.idempotency_key
                assert key is not None and e.tag == key
                # a key always means the same request
                assert self.pay_params.setdefault(key, e.params) == e.params
                # never a new attempt while an earlier one's outcome is not known
                assert self.live <= {key}, (self.live, key)
                self.live.add(key)
            elif isinstance(e, RecordEvent) and e.type == "checkout.paid":
                assert isinstance(after, Paid) and not isinstance(
                    before, (Paid, OfferJoin, Done, Joined))
        if isinstance(after, Paid) and not isinstance(before, Paid):
            assert says_paid, f"{type(before).__name__} -> Paid on {event_type.__name__}"
        if isinstance(after, Idle) or (not isinstance(before, Idle) and not isinstance(
                after, Idle) and before.order.order_id != after.order.order_id):
            self.live.clear()  # that checkout is over; the controller owns the order now

    def current_oid(self) -> str:
        return OID if isinstance(self.run.state, Idle) else self.run.state.order.order_id

    # -- rules ------------------------------------------------------------------------------

    @rule(oid=st.sampled_from([OID, OID2]),
          state=st.sampled_from(["open", "open", "open", "paid", "closed"]),
          expired=st.sampled_from([False, False, False, True]), member=st.booleans())
    def push(self, oid: str, state: str, expired: bool, member: bool = False) -> None:
        order = order_json(oid, state=state, expires_ms=self.run.now - 1 if expired
                           else self.run.now + 600_000, member_id="m-00000007" if member else None)
        self.feed(OrderPushed, order=order, says_paid=state == "paid")

    @rule(same=st.booleans(), state=st.sampled_from(["open", "paying", *ORDER_STATES]),
          attempt_state=st.none() | st.sampled_from(ATTEMPT_STATES))
    def update(self, same: bool, state: str, attempt_state: str | None) -> None:
        """`checkout.update` about this order (or another one)."""
        oid = self.current_oid() if same else OID2
        order = order_json(oid, state=state)
        attempt = None if attempt_state is None else self._attempt(oid, attempt_state)
        if oid == self.current_oid() and _ends_attempts(order, attempt):
            self.live.clear()
        self.feed(OrderUpdated, order=order, attempt=attempt,
                  says_paid=_says_paid(order, attempt))

    @rule(action=st.sampled_from(SHOPPER))
    def shopper(self, action: tuple[type[Event], dict[str, Any]]) -> None:
        self.feed(action[0], **action[1])

    @rule(pick=st.integers(min_value=0, max_value=2))
    def sensible_shopper(self, pick: int) -> None:
        """What a shopper would do next on this screen (takes the storm deeper)."""
        state = self.run.state
        if isinstance(state, Idle):
            self.push([OID, OID2][pick % 2], "open", False)
        elif isinstance(state, OrderShown):
            self.feed([StartPayment, FaceConsent, StartPayment][pick])
        elif isinstance(state, ChoosingMethod) and state.face_needs_consent and pick == 2:
            self.feed(FaceConsent)
        elif isinstance(state, (ChoosingMethod, Failed)):
            self.feed(ChooseMethod, method=state.methods[pick % len(state.methods)])
        elif isinstance(state, ScanningCode):
            self.feed(CodeScanned, auth_code=AUTH)
        elif isinstance(state, FaceMatching):
            self.feed(FaceMatched, member_id="m-42", distance=0.3, margin=0.05)
        elif isinstance(state, NeedSecondFactor):
            self.feed(EnterLast4, digits="1234")
        elif isinstance(state, OfferJoin):
            self.feed([TapJoin, TapJoin, DeclineJoin][pick])

    @precondition(lambda self: not isinstance(self.run.state, Idle)
                  and self.run.state.awaiting is not None)
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        state = self.run.state
        assert not isinstance(state, Idle) and state.awaiting is not None
        call = self.calls[state.awaiting]
        self.reply(call, data)

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data())
    def stale_answer(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(self.calls)))
        self.reply(self.calls[tag], data)

    def reply(self, call: CallController, data: st.DataObject) -> None:
        oid = call.params["order_id"]
        face = call.params.get("method") == "face"
        kinds = ["ok", "ok", "ok", *ERRORS] + ["second_factor_required"] * 3 * face
        kind = data.draw(st.sampled_from(kinds))
        if kind != "ok":
            if call.method == "checkout.pay" and kind in DEFINITE_PAY_ERRORS:
                self.live.discard(call.tag)
            self.feed(Reply, tag=call.tag, ok=False, error=kind, message="why")
            return
        res: dict[str, Any]
        if call.method == "member.offer":
            res = {"eligible": data.draw(st.booleans()), "brand_id": "freshmart", "points": 13,
                   "profile": data.draw(st.none() | st.just(
                       {"display_name": "Li", "masked_phone": "138****5678", "brands": []}))}
        elif call.method == "member.join":
            res = {"member_id": "m-1", "brand_id": "freshmart", "points_credited": 13,
                   "balance": 13, "coupon": None}
        else:
            order = order_json(oid, state=data.draw(st.sampled_from(["paying", *ORDER_STATES])))
            attempt = data.draw(st.sampled_from([None, "waiting", *ATTEMPT_STATES]).map(
                lambda s: None if s is None else self._attempt(oid, s)))
            res = {"order": order, "attempt": attempt}
            if oid == self.current_oid() and _ends_attempts(order, attempt):
                self.live.clear()
            self.feed(Reply, tag=call.tag, ok=True, result=res,
                      says_paid=_says_paid(order, attempt))
            return
        self.feed(Reply, tag=call.tag, ok=True, result=res)

    def _attempt(self, oid: str, state: str) -> dict[str, Any]:
        """An attempt like the controller's for the payment being made."""
        current = self.run.state
        n = 0 if isinstance(current, Idle) else current.session.pay_n
        method = current.method if isinstance(current, Paying) else "native"
        method = "face_balance" if method == "face" else method
        return attempt_json(state, method, n=max(n, 1), oid=oid,
                            expires_ms=self.run.now + 60_000)

    @rule(ms=st.sampled_from([0, 500, 1_000, 2_000, 5_000, 30_000, 200_000]))
    def wait(self, ms: int) -> None:
        until = self.run.now + ms
        while self.run.timers and min(self.run.timers.values()) <= until:
            name, at = min(self.run.timers.items(), key=lambda kv: kv[1])
            self.run.now = max(self.run.now, at)
            self.run.timers.pop(name)
            self.feed(TimerFired, name=name)
        self.run.now = until

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """Answer what is awaited or do the sensible thing (random walks stay shallow)."""
        state = self.run.state
        if not isinstance(state, Idle) and state.awaiting is not None:
            self.reply(self.calls[state.awaiting], data)
        else:
            self.sensible_shopper(data.draw(st.integers(min_value=0, max_value=2)))

    @precondition(lambda self: bool(self.run.timers))
    @rule()
    def next_timer(self) -> None:
        self.wait(min(self.run.timers.values()) - self.run.now)

    @rule(name=st.sampled_from(["screen", "poll", "other"]))
    def early_timer(self, name: str) -> None:
        """A timer that fires before its time (or one that is not pending at all): the flow
        must not act on it, and must arm it again (the driver dropped it when it fired)."""
        self.run.timers.pop(name, None)
        self.feed(TimerFired, name=name)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_screen_has_its_timer(self) -> None:
        state = self.run.state
        if isinstance(state, Idle):
            return
        assert self.run.timers.get("screen") == state.deadline_ms > self.run.now
        if state.poll_at_ms is not None:
            assert self.run.timers.get("poll") == state.poll_at_ms >= self.run.now

    @invariant()
    def awaits_only_what_it_asked(self) -> None:
        state = self.run.state
        if not isinstance(state, Idle) and state.awaiting is not None:
            assert state.awaiting in self.calls


TestCheckoutStorm = CheckoutStorm.TestCase
TestCheckoutStorm.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
