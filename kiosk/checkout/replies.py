"""What the checkout flow does with the controller's answers (pure).

`on_reply` is only called with the answer the state awaits (`Reply.tag == state.awaiting`).
Payment rules (docs/checkout.md): `unavailable` means the outcome is unknown, so the flow polls
`checkout.status` and never sends a new pay; a lost answer (`UNREACHABLE`) is sent again with
the same idempotency key; Paid is entered only from an answer that says paid.
"""

from __future__ import annotations

from dataclasses import replace

from kiosk.checkout import transitions as t
from kiosk.checkout.events import BAD_RESPONSE, UNREACHABLE, RecordEvent, Reply, ShowMessage
from kiosk.checkout.model import (
    FAILED_ATTEMPT,
    Attempt,
    JoinResult,
    Offer,
    Order,
    parse,
    parse_result,
)
from kiosk.checkout.states import (
    NATIVE,
    ActiveState,
    Closing,
    FlowConfig,
    Joined,
    Joining,
    NeedSecondFactor,
    OfferJoin,
    OrderShown,
    Paid,
    Paying,
    ShowingQr,
)

Out = t.Out
GONE = ("not_found", "expired")  # the order no longer exists for this terminal


def on_reply(state: ActiveState, ev: Reply, cfg: FlowConfig) -> Out:
    now = ev.now_ms
    if isinstance(state, OrderShown):
        return _applied(state, ev)
    if isinstance(state, Paying):
        if ev.tag == state.call.tag:
            return _pay_answer(state, ev, cfg)
        return _status_answer(state, ev, cfg)
    if isinstance(state, ShowingQr):
        return _status_answer(state, ev, cfg)
    if isinstance(state, Closing):
        return _close_answer(state, ev, cfg)
    if isinstance(state, Paid):
        offer = parse(Offer, ev.result) if ev.ok else None
        if offer is None or not offer.eligible:
            return t.done(state.session, "paid", now, cfg)
        data = {"order_id": state.order.order_id, "brand_id": offer.brand_id,
                "prefilled": offer.profile is not None}
        return OfferJoin(session=state.session, deadline_ms=now + cfg.offer_ms,
                         offer=offer), [RecordEvent("member.offered", data)]
    if isinstance(state, Joining):
        return _join_answer(state, ev, cfg)
    return state, []


def _polling(state: ActiveState, now: int, cfg: FlowConfig) -> Out:
    return replace(state, awaiting=None, poll_at_ms=now + cfg.poll_ms), []


def _applied(state: OrderShown, ev: Reply) -> Out:
    """points.apply / coupon.apply: the order with its new discount, or why not."""
    order = parse(Order, (ev.result or {}).get("order")) if ev.ok else None
    if order is None or order.order_id != state.order.order_id:
        why = ev.message or "Could not apply that now. Please try again."
        return replace(state, awaiting=None), [ShowMessage("apply_failed", why, "error")]
    session = replace(state.session, order=order)
    return replace(state, session=session, awaiting=None), [
        ShowMessage("applied", f"New total: {order.payable_fen} fen")]


def _pay_answer(state: Paying, ev: Reply, cfg: FlowConfig) -> Out:
    now, code = ev.now_ms, ev.error
    if ev.ok:
        order, attempt = parse_result(ev.result)
        if order is not None and order.order_id == state.order.order_id:
            return _outcome(state, order, attempt, now, cfg)
        code = BAD_RESPONSE
    if code == UNREACHABLE:
        return replace(state, phase="resend", awaiting=None, poll_at_ms=now + cfg.poll_ms), []
    if code in ("unavailable", BAD_RESPONSE):
        waiting = replace(state, phase="unknown", awaiting=None, poll_at_ms=now + cfg.poll_ms)
        return waiting, [ShowMessage("checking", "Checking the payment...")]
    if code == "conflict":  # the order is not payable now: status tells why
        return replace(state, phase="checking", awaiting=None, poll_at_ms=now), []
    if code == "second_factor_required":
        return _second_factor(state, now, cfg)
    if code in GONE:
        return t.cancelled(state.session, code or "closed", now, cfg)
    return t.failed(state.session, state.method, ev.message or code or "declined", now, cfg)


def _second_factor(state: Paying, now: int, cfg: FlowConfig) -> Out:
    if state.face is None:
        return t.failed(state.session, state.method, "second factor required", now, cfg)
    wrong = "phone_last4" in state.call.params
    tries = state.tries + (1 if wrong else 0)
    if tries >= cfg.max_last4_tries:
        session = replace(state.session, face_blocked=True)
        return t.choosing(session, now, cfg, [ShowMessage(
            "face_fallback", "Please pay with the QR code or your payment code.", "error")])
    msg = (ShowMessage("wrong_digits", "Those digits do not match. Please try again.", "error")
           if wrong else ShowMessage("second_factor", "Enter the last 4 digits of your phone."))
    return NeedSecondFactor(session=state.session, deadline_ms=now + cfg.second_factor_ms,
                            face=state.face, tries=tries), [msg]


def _status_answer(state: Paying | ShowingQr, ev: Reply, cfg: FlowConfig) -> Out:
    if ev.ok:
        order, attempt = parse_result(ev.result)
        if order is not None and order.order_id == state.order.order_id:
            return _outcome(state, order, attempt, ev.now_ms, cfg)
    if ev.error in GONE:
        return t.cancelled(state.session, ev.error or "closed", ev.now_ms, cfg)
    return _polling(state, ev.now_ms, cfg)  # unknown still: ask again later


def _outcome(state: Paying | ShowingQr, order: Order, attempt: Attempt | None, now: int,
             cfg: FlowConfig) -> Out:
    """The order and its attempt as the controller sees them after pay or status."""
    if order.state == "paid" or (attempt is not None and attempt.state == "paid"):
        return t.paid(state, order, attempt, now, cfg)
    session = replace(state.session, order=order)
    if order.state in ("closed", "refunded"):
        return t.cancelled(session, "closed", now, cfg)
    method = state.method if isinstance(state, Paying) else NATIVE
    if attempt is None:
        if isinstance(state, Paying) and state.phase == "checking":
            return t.failed(session, method, "The order cannot be paid right now.", now, cfg)
        if isinstance(state, Paying):
            state = replace(state, phase="unknown")
        return _polling(replace(state, session=session), now, cfg)
    session = replace(session, out_trade_no=attempt.out_trade_no)
    if attempt.state == "closed" and isinstance(state, ShowingQr):  # the QR expired there
        return t.close(session, "qr_expired", now, cfg)
    if attempt.state in FAILED_ATTEMPT:
        return t.failed(session, attempt.method or method, attempt.error or attempt.state, now,
                        cfg)
    if attempt.code_url and isinstance(state, Paying) and attempt.method == NATIVE:
        expires = attempt.expires_ms
        if not now < expires <= now + cfg.qr_ms:  # unusable (or skewed clocks): our own
            expires = now + cfg.qr_ms
        return ShowingQr(session=session, deadline_ms=expires, code_url=attempt.code_url,
                         expires_ms=expires, poll_at_ms=now + cfg.poll_ms), [
            ShowMessage("scan_qr", "Scan the code with your wallet app.")]
    nxt = replace(state, session=session, awaiting=None, poll_at_ms=now + cfg.poll_ms)
    if isinstance(nxt, Paying):
        nxt = replace(nxt, phase="confirming" if attempt.state == "waiting" else "unknown")
    return nxt, []


def _close_answer(state: Closing, ev: Reply, cfg: FlowConfig) -> Out:
    now = ev.now_ms
    if ev.ok:
        order, attempt = parse_result(ev.result)
        if order is not None and order.order_id == state.order.order_id:
            if order.state == "paid" or (attempt is not None and attempt.state == "paid"):
                return t.paid(state, order, attempt, now, cfg)
            session = replace(state.session, order=order)
            if order.state in ("closed", "refunded"):
                return t.cancelled(session, state.reason, now, cfg)
            # still settling (a payment code reversal can take a while): watch it
            return _polling(replace(state, session=session, phase="checking"), now, cfg)
    if ev.error in GONE:
        return t.cancelled(state.session, state.reason, now, cfg)
    if ev.error == UNREACHABLE and ev.tag == state.call.tag:
        return _polling(replace(state, phase="resend"), now, cfg)
    return _polling(replace(state, phase="checking"), now, cfg)


def _join_answer(state: Joining, ev: Reply, cfg: FlowConfig) -> Out:
    now = ev.now_ms
    if not ev.ok and ev.error == UNREACHABLE:
        return replace(state, resend=True, awaiting=None, poll_at_ms=now + cfg.poll_ms), []
    result = parse(JoinResult, ev.result) if ev.ok else None
    if result is None:
        why = ev.message or "We could not finish joining. Please ask the staff."
        return t.done(state.session, "join_failed", now, cfg,
                      [ShowMessage("join_failed", why, "error")])
    data = {"order_id": state.order.order_id, "brand_id": result.brand_id,
            "member_id": result.member_id, "points_credited": result.points_credited,
            "prefilled": state.offer.profile is not None}
    text = f"Welcome! {result.points_credited} points credited."
    return Joined(session=state.session, deadline_ms=now + cfg.joined_ms, result=result), [
        RecordEvent("member.joined", data), ShowMessage("joined", text)]
