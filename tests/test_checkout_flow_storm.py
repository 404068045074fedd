"""The checkout flow under random event storms (hypothesis rule-based state machine)."""

from __future__ import annotations

from typing import Any

from checkout_flow_fixtures import (
    AUTH,
    OID,
    OID2,
    Run,
    attempt_json,
    order_json,
)
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
    ChooseMethod,
    CodeScanned,
    DeclineJoin,
    EnterLast4,
    Event,
    FaceConsent,
    FaceMatched,
    OrderPushed,
    OrderUpdated,
    RecordEvent,
    Reply,
    StartPayment,
    TapJoin,
    TimerFired,
)
from kiosk.checkout.states import (
    ChoosingMethod,
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
)

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
