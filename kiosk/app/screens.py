"""Checkout state -> what the screen shows (pure: no Kivy, no clock).

`view_for(state, lang)` maps every state of `kiosk.checkout` to a `View`: the screen family,
title, lines, order rows, the QR to draw, whether the camera or a keypad is up, and the
actions offered (ids that `ACTIONS` turns into `TerminalCheckout` calls). The Kivy view only
renders a `View`; it never decides anything about the flow.

Waiting states never lie: while a payment's outcome is unknown (`Paying` in `unknown`,
`checking` or `resend`, or `Closing`) the screen says the payment is being *checked*, with no
"paid" or "failed" and no way to pay again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kiosk.app.i18n import brand_name, coupon_title, message_text, money, tr
from kiosk.checkout.events import ShowMessage
from kiosk.checkout.model import Order
from kiosk.checkout.states import (
    CODE,
    FACE,
    NATIVE,
    Cancelled,
    ChoosingMethod,
    Closing,
    Done,
    FaceMatching,
    Failed,
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
)

Tone = Literal["info", "ok", "error"]
METHOD_LABEL = {NATIVE: "m_native", CODE: "m_code", FACE: "m_face"}
# action id -> (TerminalCheckout coroutine name, positional args)
ACTIONS: dict[str, tuple[str, tuple[object, ...]]] = {
    "pay": ("start_payment", ()),
    "use_points": ("apply_points", (10**9,)),  # as many as the controller allows for the order
    "method:native": ("choose_method", (NATIVE,)),
    "method:code": ("choose_method", (CODE,)),
    "method:face": ("choose_method", (FACE,)),
    "consent_face": ("consent_face", (True,)),
    "back": ("back", ()),
    "cancel": ("cancel", ()),
    "close": ("cancel", ()),
    "join": ("tap_join", ()),
    "decline": ("decline_join", ()),
}


@dataclass(frozen=True)
class Action:
    id: str
    label: str
    primary: bool = False


@dataclass(frozen=True)
class Line:
    text: str
    role: str = "body"  # a profiles.FONT_SP role
    tone: Tone = "info"


@dataclass(frozen=True)
class View:
    screen: str
    title: str
    lines: tuple[Line, ...] = ()
    rows: tuple[tuple[str, str], ...] = ()  # order lines: (label, money)
    totals: tuple[tuple[str, str], ...] = ()
    actions: tuple[Action, ...] = ()
    qr: str | None = None
    camera: bool = False
    keypad: bool = False
    waiting: bool = False  # the outcome is not known yet: a spinner, no result
    tone: Tone = "info"
    deadline_ms: int | None = None  # shown as a countdown (the QR's lifetime)
    secret: bool = False  # the keypad takes a PIN: dots, submitted with OK
    detail: tuple[str, ...] = ()  # long technical text, scrollable (technician)
    picture: str | None = None  # an image file shown in the main pane (the touched ad)


def view_for(state: State, lang: str, message: ShowMessage | None = None,
             brands: dict[str, str] | None = None) -> View | None:
    """The checkout screen for `state`; None in `Idle` (the attract loop is up)."""
    if isinstance(state, Idle):
        return None
    t = _Tr(lang)
    order = state.order
    cancel = Action("cancel", t("cancel"))
    pay_line = Line(f"{t('to_pay')} {money(order.payable_fen)}", "amount")
    note = _note(message, lang)
    if isinstance(state, OrderShown):
        rows = _item_rows(order, t)
        totals = [(t("total"), money(order.amount_fen))]
        if order.member_discount_fen:
            totals.append((t("member_prices_applied"), money(-order.member_discount_fen)))
        if order.discount_fen - order.member_discount_fen:
            totals.append((t("savings"), money(-(order.discount_fen - order.member_discount_fen))))
        if (not order.member_discount_fen and order.member_saving_fen
                and order.member_payable_fen is not None):
            # not a member yet (or not known to be one): what a member would pay
            totals.append((t("member_total"), money(order.member_payable_fen)))
            totals.append((t("member_save", amount=money(order.member_saving_fen)), ""))
        if order.points_used:
            totals.append((t("points_used", points=order.points_used), ""))
        if order.coupon_code:
            totals.append((t("coupon_used", code=order.coupon_code), ""))
        if state.awaiting is not None:
            return View("order", t("order_title"), (Line(t("applying")), pay_line), rows,
                        tuple(totals), (cancel,), waiting=True)
        actions = [Action("pay", t("pay"), primary=True)]
        if order.member_id and not order.points_used:
            actions.append(Action("use_points", t("use_points")))
        return View("order", t("order_title"), (*note, pay_line), rows, tuple(totals),
                    (*actions, cancel))
    if isinstance(state, ChoosingMethod):
        actions = [Action(f"method:{m}", t(METHOD_LABEL[m]), primary=m == NATIVE)
                   for m in state.methods]
        lines = [*note, pay_line]
        if state.face_needs_consent:
            actions.append(Action("consent_face", t("m_face_consent")))
            lines.append(Line(t("face_consent_note"), "small"))
        return View("method", t("method_title"), tuple(lines),
                    actions=(*actions, Action("back", t("back")), cancel))
    if isinstance(state, ShowingQr):
        return View("qr", t("qr_title"), (Line(t("qr_hint")), pay_line), qr=state.code_url,
                    actions=(cancel,), deadline_ms=state.expires_ms)
    if isinstance(state, ScanningCode):
        return View("code", t("code_title"), (Line(t("code_hint")), *note, pay_line),
                    camera=True, actions=(Action("back", t("back")), cancel))
    if isinstance(state, FaceMatching):
        return View("face", t("face_title"), (*(note or (Line(t("face_hint")),)), pay_line),
                    camera=True, actions=(Action("back", t("back")), cancel))
    if isinstance(state, NeedSecondFactor):
        lines = (Line(t("last4_wrong"), tone="error"),) if state.tries else ()
        return View("last4", t("last4_title"), (*lines, pay_line), keypad=True,
                    actions=(Action("back", t("back")), cancel))
    if isinstance(state, Paying):
        return _paying(state, t, pay_line, cancel)
    if isinstance(state, Closing):
        return View("checking", t("closing"), (Line(t("closing_hint")),), waiting=True)
    if isinstance(state, Failed):
        actions = tuple(Action(f"method:{m}", t(METHOD_LABEL[m]), primary=m == NATIVE)
                        for m in state.methods)
        lines = (Line(t("choose_again")), Line(state.reason[:120], "small", "error"))
        return View("failed", t("failed_title"), (*lines, pay_line), actions=(*actions, cancel),
                    tone="error")
    if isinstance(state, Cancelled):
        lines = (Line(t("ask_staff"), tone="error"),) if state.reason == "unconfirmed" else ()
        return View("cancelled", t("cancelled_title"), lines,
                    actions=(Action("close", t("close"), primary=True),),
                    tone="error" if lines else "info")
    if isinstance(state, Paid):
        return View("paid", t("paid_title"), (Line(t("paid_amount",
                                                     amount=money(order.payable_fen))),),
                    tone="ok")
    brand = brand_name(order.brand_id, brands)
    if isinstance(state, OfferJoin):
        return _offer(state, t, brand_name(state.offer.brand_id or order.brand_id, brands))
    if isinstance(state, Joining):
        return View("joining", t("joining"), (Line(t("please_wait")),), waiting=True)
    if isinstance(state, Joined):
        r = state.result
        lines = [Line(t("joined_points", points=r.points_credited), "heading", "ok"),
                 Line(t("joined_balance", balance=r.balance))]
        if r.coupon:
            lines.append(Line(t("joined_coupon", title=coupon_title(r.coupon, lang))))
        name = brand_name(r.brand_id or order.brand_id, brands)
        wallet = (Action("wallet", t("wallet")),) if r.coupon else ()
        return View("joined", t("joined_title", brand=name), tuple(lines), tone="ok",
                    actions=(Action("close", t("close"), primary=True), *wallet))
    assert isinstance(state, Done)
    if state.outcome == "join_failed":
        return View("done", t("done_title"), (Line(t("join_failed"), tone="error"),),
                    actions=(Action("close", t("close"), primary=True),), tone="error")
    lines = (Line(brand, "heading"),) if brand else ()
    return View("done", t("done_title"), lines, tone="ok",
                actions=(Action("close", t("close"), primary=True),))


class _Tr:
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        return tr(key, self.lang, **values)


def _note(message: ShowMessage | None, lang: str) -> tuple[Line, ...]:
    if message is None or message.kind != "error":
        return ()
    return (Line(message_text(message.code, message.text, lang), tone="error"),)


def _paying(state: Paying, t: _Tr, pay_line: Line, cancel: Action) -> View:
    if state.phase == "sending":
        return View("checking", t("sending"), (Line(t("please_wait")), pay_line), waiting=True)
    if state.phase == "confirming":
        return View("checking", t("confirm_phone"), (pay_line,), waiting=True,
                    actions=(cancel,))
    # unknown / checking / resend: the money may have moved; only the controller can tell
    return View("checking", t("checking"), (Line(t("checking_hint")), pay_line), waiting=True)


def _offer(state: OfferJoin, t: _Tr, brand: str) -> View:
    offer = state.offer
    lines = [Line(t("paid_title"), "heading", "ok"),
             Line(t("offer_join_points", points=offer.points))]
    profile = offer.profile
    if profile is not None and state.confirming:
        lines.append(Line(t("offer_profile", name=profile.display_name,
                            phone=profile.masked_phone), "heading"))
        if profile.brands:
            lines.append(Line(t("offer_brands", brands=", ".join(profile.brands)), "small"))
        join = Action("join", t("confirm_join"), primary=True)
    else:
        join = Action("join", t("join"), primary=True)
    return View("offer", t("offer_join_title", brand=brand), tuple(lines),
                actions=(join, Action("decline", t("decline"))))


def seconds_left(deadline_ms: int | None, now_ms: int) -> int | None:
    if deadline_ms is None or deadline_ms <= 0:
        return None
    return max(0, (deadline_ms - now_ms + 999) // 1000)


def _item_rows(order: Order, t: _Tr) -> tuple[tuple[str, str], ...]:
    """Each item and its total; under it, its member price where the store set one."""
    rows: list[tuple[str, str]] = []
    for i in order.items:
        rows.append((t("item_line", name=i.name or i.sku, qty=i.qty), money(i.qty * i.unit_fen)))
        member = i.member_unit_fen
        if member is not None and member < i.unit_fen:
            rows.append((t("member_price_line", price=money(member)), money(i.qty * member)))
    return tuple(rows)
