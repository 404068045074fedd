"""Entering each checkout screen: the new state and the effects that go with it (pure).

Shared by the event handlers in `flow` and `replies`. Every function takes `now_ms` and the
config and returns `(state, effects)`; timers are added by `flow.step` from the states.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kiosk.checkout.events import CallController, Effect, RecordEvent, ShowMessage
from kiosk.checkout.model import Attempt, FaceMatch, Order, call_key
from kiosk.checkout.states import (
    NATIVE,
    ActiveState,
    Cancelled,
    ChoosingMethod,
    Closing,
    Done,
    DoneOutcome,
    Failed,
    FlowConfig,
    Idle,
    OrderShown,
    Paid,
    Paying,
    Session,
    ShowingQr,
    State,
    methods_for,
)

Out = tuple[State, list[Effect]]
RECENT_ORDERS = 16


def show_order(order: Order, idle: Idle, now_ms: int, cfg: FlowConfig) -> Out:
    pay_n, seq = next(((p, s) for oid, p, s in idle.counters if oid == order.order_id), (0, 0))
    session = Session(order=order, pay_n=pay_n, seq=seq, recent=idle.counters)
    return OrderShown(session=session, deadline_ms=now_ms + cfg.order_ms), []


def idle_after(session: Session) -> Idle:
    """The attract loop, remembering this order's counters."""
    oid = session.order.order_id
    older = [c for c in session.recent if c[0] != oid]
    return Idle(counters=((oid, session.pay_n, session.seq), *older)[:RECENT_ORDERS])


def go_idle(session: Session, now_ms: int, cfg: FlowConfig) -> Out:
    """Back to the attract loop, or straight to the order that was pushed meanwhile."""
    idle, queued = idle_after(session), session.queued
    if queued is not None and queued.live(now_ms) and queued.order_id != session.order.order_id:
        return show_order(queued, idle, now_ms, cfg)
    return idle, []


def choosing(session: Session, now_ms: int, cfg: FlowConfig,
             effects: list[Effect] | None = None) -> Out:
    needs_consent = cfg.face_pay and not session.face_consent and not session.face_blocked
    state = ChoosingMethod(session=session, deadline_ms=now_ms + cfg.order_ms,
                           methods=methods_for(session, cfg), face_needs_consent=needs_consent)
    return state, list(effects or [])


def next_call(session: Session, step: str, method: str, params: dict[str, Any], *,
              keyed: bool) -> tuple[Session, CallController]:
    """A non-pay call: numbered from the session's `seq`; `keyed` for calls that change
    something (they carry the key as idempotency key)."""
    seq = session.seq + 1
    tag = call_key(session.order.order_id, step, seq)
    call = CallController(method, {"order_id": session.order.order_id, **params},
                          tag if keyed else None, tag)
    return replace(session, seq=seq), call


def pay(session: Session, method: str, extra: dict[str, Any], now_ms: int, cfg: FlowConfig,
        *, face: FaceMatch | None = None, tries: int = 0) -> Out:
    """A new payment attempt: a new key (pay number n+1). Only ever called when no earlier
    pay's outcome is unknown."""
    n = session.pay_n + 1
    key = call_key(session.order.order_id, "pay", n)
    params = {"order_id": session.order.order_id, "method": method, **extra}
    call = CallController("checkout.pay", params, key, key)
    state = Paying(session=replace(session, pay_n=n, out_trade_no=None),
                   deadline_ms=now_ms + cfg.pay_ms, awaiting=key, call=call, method=method,
                   face=face, tries=tries)
    return state, [call]


def status_poll(state: ActiveState) -> Out:
    """Ask checkout.status now; the answer is awaited instead of the poll timer."""
    session, call = next_call(state.session, "status", "checkout.status", {}, keyed=False)
    return replace(state, session=session, awaiting=call.tag, poll_at_ms=None), [call]


def close(session: Session, reason: str, now_ms: int, cfg: FlowConfig) -> Out:
    """Ask the controller to cancel the order (closing or reversing its live attempt)."""
    session, call = next_call(session, "cancel", "checkout.cancel", {"reason": reason},
                              keyed=True)
    state = Closing(session=session, deadline_ms=now_ms + cfg.close_ms, awaiting=call.tag,
                    reason=reason, call=call)
    return state, [call]


def cancelled(session: Session, reason: str, now_ms: int, cfg: FlowConfig) -> Out:
    text = {"unconfirmed": "The order could not be confirmed closed. Please ask the staff.",
            "closed": "This order was closed."}.get(reason, "The order was cancelled.")
    effects: list[Effect] = [
        ShowMessage("cancelled", text, "error" if reason == "unconfirmed" else "info"),
        RecordEvent("checkout.cancelled", {"order_id": session.order.order_id,
                                           "reason": reason}),
    ]
    return Cancelled(session=session, deadline_ms=now_ms + cfg.done_ms, reason=reason), effects


def failed(session: Session, method: str, reason: str, now_ms: int, cfg: FlowConfig) -> Out:
    state = Failed(session=session, deadline_ms=now_ms + cfg.failed_ms, reason=reason,
                   methods=methods_for(session, cfg))
    return state, [
        ShowMessage("declined", reason or "The payment did not go through.", "error"),
        RecordEvent("checkout.failed", {"order_id": session.order.order_id, "method": method,
                                        "reason": reason[:200]}),
    ]


def paid(state: ActiveState, order: Order, attempt: Attempt | None, now_ms: int,
         cfg: FlowConfig) -> Out:
    """A controller answer said paid: record it once and ask whether to offer membership."""
    if attempt is not None and attempt.method:
        method = attempt.method  # native | code | face_balance | face_agreement
    elif isinstance(state, Paying):
        method = state.method
    else:
        method = NATIVE if isinstance(state, ShowingQr) else ""
    trade_no = attempt.out_trade_no if attempt else state.session.out_trade_no
    session = replace(state.session, order=order, out_trade_no=trade_no)
    session, call = next_call(session, "offer", "member.offer", {}, keyed=False)
    data: dict[str, Any] = {
        "order_id": order.order_id, "brand_id": order.brand_id, "store_id": order.store_id,
        "payable_fen": order.payable_fen, "method": method, "member_id": order.member_id,
        "out_trade_no": session.out_trade_no}
    effects: list[Effect] = [RecordEvent("checkout.paid", data),
                             ShowMessage("paid", "Paid. Thank you!"), call]
    return Paid(session=session, deadline_ms=now_ms + cfg.offer_wait_ms,
                awaiting=call.tag), effects


def done(session: Session, outcome: DoneOutcome, now_ms: int, cfg: FlowConfig,
         effects: list[Effect] | None = None) -> Out:
    return Done(session=session, deadline_ms=now_ms + cfg.done_ms, outcome=outcome), list(
        effects or [])
