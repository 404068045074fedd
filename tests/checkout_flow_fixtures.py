"""Helpers of the checkout flow tests: a scripted run of `flow.step` and wire-shaped data."""

from __future__ import annotations

from typing import Any

from kiosk.checkout.events import (
    CallController,
    CancelTimer,
    ChooseMethod,
    Effect,
    Event,
    OrderPushed,
    OrderUpdated,
    RecordEvent,
    Reply,
    ShowMessage,
    StartPayment,
    StartTimer,
    TimerFired,
)
from kiosk.checkout.flow import step
from kiosk.checkout.states import (
    ChoosingMethod,
    FlowConfig,
    Idle,
    OrderShown,
    Paid,
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

