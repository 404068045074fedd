"""The terminal's checkout and membership flow as a plain state machine (pure: no I/O, no
clock reads; `now_ms` comes with every event).

    step(state, event, cfg) -> (new_state, effects)

Idle → OrderShown (pushed by the controller; a known member may apply points or a coupon)
→ ChoosingMethod (QR and payment code always; face when enabled and consented)
→ ShowingQr | ScanningCode | FaceMatching [→ NeedSecondFactor] → Paying
→ Paid → OfferJoin [→ confirm the prefilled profile] → Joining → Joined | Done → Idle.
Failed (a definite refusal) lets the shopper choose again; Closing asks the controller to cancel
(shopper, screen timeout, QR expiry) and ends in Cancelled, or Paid if the money had moved.

Events that make no sense in a state leave it unchanged with no effects; `step` never raises.
Timers follow from the states (`states.timers`): `step` emits StartTimer/CancelTimer whenever
the pending deadlines change, so every non-idle state always has its `screen` timer pending.
"""

from __future__ import annotations

import math
from dataclasses import replace

from kiosk.checkout import transitions as t
from kiosk.checkout.events import (
    ApplyCoupon,
    ApplyPoints,
    Back,
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
from kiosk.checkout.model import (
    AUTH_CODE_RE,
    FAILED_ATTEMPT,
    LAST4_RE,
    Attempt,
    FaceMatch,
    Order,
    parse,
)
from kiosk.checkout.replies import on_reply
from kiosk.checkout.states import (
    AFTER_PAY,
    CODE,
    FACE,
    IN_FLIGHT,
    NATIVE,
    POLL,
    SCREEN,
    ActiveState,
    Cancelled,
    ChoosingMethod,
    Closing,
    Done,
    FaceMatching,
    Failed,
    FlowConfig,
    Idle,
    Joined,
    Joining,
    NeedSecondFactor,
    OfferJoin,
    OrderShown,
    Paid,
    Paying,
    ScanningCode,
    ShowingQr,
    State,
    methods_for,
    timers,
)

DEFAULT_CONFIG = FlowConfig()
Out = t.Out


def step(state: State, event: Event, cfg: FlowConfig = DEFAULT_CONFIG) -> Out:
    new, effects = _route(state, event, cfg)
    return new, effects + _timer_changes(state, new, event)


def _timer_changes(old: State, new: State, event: Event) -> list[Effect]:
    before, after = timers(old), timers(new)
    fired = event.name if isinstance(event, TimerFired) else None
    out: list[Effect] = [StartTimer(name, at) for name, at in after.items()
                         if before.get(name) != at or name == fired]
    out += [CancelTimer(name) for name in before if name not in after and name != fired]
    return out


def _route(state: State, ev: Event, cfg: FlowConfig) -> Out:
    if isinstance(ev, OrderPushed):
        return _pushed(state, ev, cfg)
    if isinstance(ev, OrderUpdated):
        return _updated(state, ev, cfg)
    if isinstance(state, Idle):
        return state, []
    if isinstance(ev, Reply):
        return on_reply(state, ev, cfg) if ev.tag == state.awaiting else (state, [])
    if isinstance(ev, TimerFired):
        if ev.name == SCREEN and ev.now_ms >= state.deadline_ms:
            return _timeout(state, ev.now_ms, cfg)
        if ev.name == POLL and state.poll_at_ms is not None and ev.now_ms >= state.poll_at_ms:
            return _poll(state)
        return state, []
    return _tap(state, ev, cfg)


# ---- the controller's pushes ---------------------------------------------------------------

def _pushed(state: State, ev: OrderPushed, cfg: FlowConfig) -> Out:
    order = parse(Order, ev.order)
    if order is None or not order.live(ev.now_ms):
        return state, []
    if isinstance(state, Idle):
        return t.show_order(order, state, ev.now_ms, cfg)
    if order.order_id == state.order.order_id:
        return _updated(state, OrderUpdated(order=ev.order, now_ms=ev.now_ms), cfg)
    if isinstance(state, (*IN_FLIGHT, Paid, OfferJoin, Joining)):  # this shopper comes first
        return replace(state, session=replace(state.session, queued=order)), []
    return t.show_order(order, t.idle_after(state.session), ev.now_ms, cfg)


def _updated(state: State, ev: OrderUpdated, cfg: FlowConfig) -> Out:
    order = parse(Order, ev.order)
    attempt = parse(Attempt, ev.attempt) if ev.attempt is not None else None
    if order is None or isinstance(state, Idle):
        return state, []
    s, now = state.session, ev.now_ms
    if order.order_id != s.order.order_id:
        if s.queued is None or s.queued.order_id != order.order_id:
            return state, []
        return replace(state, session=replace(s, queued=order if order.live(now) else None)), []
    if isinstance(state, AFTER_PAY):  # a refund later: nothing for the shopper to do here
        return replace(state, session=replace(s, order=order)), []
    if order.state == "paid" or (attempt is not None and attempt.state == "paid"):
        return t.paid(state, order, attempt, now, cfg)
    s = replace(s, order=order)
    if order.state in ("closed", "refunded"):
        if isinstance(state, Cancelled):
            return replace(state, session=s), []
        return t.cancelled(s, state.reason if isinstance(state, Closing) else "closed", now, cfg)
    if (attempt is not None and attempt.state in FAILED_ATTEMPT
            and attempt.out_trade_no == s.out_trade_no and isinstance(state, (Paying, ShowingQr))):
        if isinstance(state, ShowingQr) and attempt.state == "closed":  # the QR expired there
            return t.close(s, "qr_expired", now, cfg)
        method = state.method if isinstance(state, Paying) else NATIVE
        return t.failed(s, method, attempt.error or attempt.state, now, cfg)
    return replace(state, session=s), []


# ---- timers --------------------------------------------------------------------------------

def _timeout(state: ActiveState, now: int, cfg: FlowConfig) -> Out:
    s = state.session
    if isinstance(state, (OrderShown, ChoosingMethod)):
        return t.close(s, "timeout", now, cfg)
    if isinstance(state, (ScanningCode, FaceMatching, NeedSecondFactor, Failed)):
        return t.choosing(s, now, cfg)
    if isinstance(state, Paying):
        return t.close(s, "pay_timeout", now, cfg)
    if isinstance(state, ShowingQr):
        return t.close(s, "qr_expired", now, cfg)
    if isinstance(state, Closing):
        return t.cancelled(s, "unconfirmed", now, cfg)
    if isinstance(state, Paid):
        return t.done(s, "paid", now, cfg)
    if isinstance(state, OfferJoin):
        return t.done(s, "timeout", now, cfg, [_declined(state, "timeout")])
    if isinstance(state, Joining):
        return t.done(s, "join_failed", now, cfg, [ShowMessage(
            "join_failed", "We could not confirm joining. Please ask the staff.", "error")])
    return t.go_idle(s, now, cfg)  # Joined, Done, Cancelled


def _poll(state: ActiveState) -> Out:
    if isinstance(state, (Paying, Closing)) and state.phase == "resend":
        call = state.call  # the very same call: same parameters, same idempotency key
        return replace(state, phase="sending", awaiting=call.tag, poll_at_ms=None), [call]
    if isinstance(state, Joining) and state.resend:
        return replace(state, resend=False, awaiting=state.call.tag, poll_at_ms=None), [
            state.call]
    if isinstance(state, (Paying, ShowingQr, Closing)):
        return t.status_poll(state)
    return state, []


# ---- the shopper ---------------------------------------------------------------------------

def _tap(state: ActiveState, ev: Event, cfg: FlowConfig) -> Out:
    s, now = state.session, ev.now_ms
    if isinstance(ev, Cancel):
        if isinstance(state, (OrderShown, ChoosingMethod, ScanningCode, FaceMatching,
                              NeedSecondFactor, Failed, Paying, ShowingQr)):
            return t.close(s, "shopper", now, cfg)
        if isinstance(state, OfferJoin):
            return t.done(s, "declined", now, cfg, [_declined(state, "declined")])
        if isinstance(state, (Joined, Done, Cancelled)):
            return t.go_idle(s, now, cfg)
        return state, []
    if isinstance(state, OrderShown):
        return _on_order_screen(state, ev, cfg)
    if isinstance(state, ChoosingMethod):
        if isinstance(ev, ChooseMethod):
            return _choose(state, ev.method, now, cfg)
        if isinstance(ev, FaceConsent):
            return t.choosing(replace(s, face_consent=ev.given), now, cfg)
        if isinstance(ev, Back):
            return OrderShown(session=s, deadline_ms=now + cfg.order_ms), []
    elif isinstance(state, (ScanningCode, FaceMatching, NeedSecondFactor, Failed)):
        if isinstance(ev, Back):
            return t.choosing(s, now, cfg)
        return _on_method_screen(state, ev, cfg)
    elif isinstance(state, OfferJoin):
        return _on_offer(state, ev, cfg)
    return state, []


def _on_order_screen(state: OrderShown, ev: Event, cfg: FlowConfig) -> Out:
    s, now = state.session, ev.now_ms
    if isinstance(ev, FaceConsent):
        return replace(state, session=replace(s, face_consent=ev.given)), []
    if state.awaiting is not None:  # points or coupon being applied: amounts may change
        return state, []
    if isinstance(ev, StartPayment):
        return t.choosing(s, now, cfg)
    if isinstance(ev, ChooseMethod):
        return _choose(state, ev.method, now, cfg)
    if (isinstance(ev, ApplyPoints) and type(ev.points) is int and ev.points > 0
            and s.order.member_id):
        s, call = t.next_call(s, "points", "points.apply",
                              {"member_id": s.order.member_id, "points": ev.points}, keyed=True)
    elif isinstance(ev, ApplyCoupon) and 0 < len(ev.code.strip()) <= 64:
        s, call = t.next_call(s, "coupon", "coupon.apply", {"code": ev.code.strip()},
                              keyed=True)
    else:
        return state, []
    return OrderShown(session=s, deadline_ms=now + cfg.order_ms, awaiting=call.tag), [call]


def _choose(state: OrderShown | ChoosingMethod | Failed, method: str, now: int,
            cfg: FlowConfig) -> Out:
    s = state.session
    if method not in methods_for(s, cfg):
        return state, []
    if method == NATIVE:
        return t.pay(s, NATIVE, {}, now, cfg)
    if method == CODE:
        return ScanningCode(session=s, deadline_ms=now + cfg.scan_ms), [
            ShowMessage("show_code", "Show your payment code to the camera.")]
    return FaceMatching(session=s, deadline_ms=now + cfg.scan_ms), [
        ShowMessage("look_at_camera", "Look at the camera to pay.")]


def _on_method_screen(state: ScanningCode | FaceMatching | NeedSecondFactor | Failed,
                      ev: Event, cfg: FlowConfig) -> Out:
    s, now = state.session, ev.now_ms
    if isinstance(state, Failed) and isinstance(ev, ChooseMethod):
        return _choose(state, ev.method, now, cfg)
    if isinstance(state, ScanningCode) and isinstance(ev, CodeScanned):
        if not AUTH_CODE_RE.fullmatch(ev.auth_code):
            return state, [ShowMessage("bad_code", "That is not a payment code.", "error")]
        return t.pay(s, CODE, {"auth_code": ev.auth_code}, now, cfg)
    if isinstance(state, FaceMatching) and isinstance(ev, FaceMatched):
        if not (0 < len(ev.member_id) <= 64 and _unit(ev.distance) and _unit(ev.margin)
                and type(ev.gallery_size) is int and ev.gallery_size >= 1):
            return state, []
        face = FaceMatch(ev.member_id, float(ev.distance), float(ev.margin), ev.gallery_size)
        return t.pay(s, FACE, {"face": face.params()}, now, cfg, face=face)
    if isinstance(state, NeedSecondFactor) and isinstance(ev, EnterLast4):
        if not LAST4_RE.fullmatch(ev.digits):
            return state, []
        extra = {"face": state.face.params(), "phone_last4": ev.digits}
        return t.pay(s, FACE, extra, now, cfg, face=state.face, tries=state.tries)
    return state, []


def _unit(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and 0 <= x <= 2


def _on_offer(state: OfferJoin, ev: Event, cfg: FlowConfig) -> Out:
    s, now = state.session, ev.now_ms
    if isinstance(ev, DeclineJoin):
        return t.done(s, "declined", now, cfg, [_declined(state, "declined")])
    if not isinstance(ev, TapJoin):
        return state, []
    if state.offer.profile is not None and not state.confirming:  # show it, then confirm
        return replace(state, confirming=True, deadline_ms=now + cfg.offer_ms), []
    s, call = t.next_call(s, "join", "member.join", {"confirm": True}, keyed=True)
    return Joining(session=s, deadline_ms=now + cfg.join_ms, awaiting=call.tag,
                   offer=state.offer, call=call), [call]


def _declined(state: OfferJoin, reason: str) -> RecordEvent:
    return RecordEvent("member.declined", {"order_id": state.order.order_id,
                                           "brand_id": state.offer.brand_id, "reason": reason})

