"""The app's own pages as `screens.View`s (pure): an ad's offer (and its coupon to claim), the
coupon wallet, the e-receipt QR and the technician's PIN pad and screen.

The wallet holds the coupons this shopper received at this terminal (the welcome coupon of a
one-tap join); each shows as a QR of its code, so the shopper can keep it on the phone. It is
emptied when the terminal goes back to the attract loop (a shared screen keeps nothing).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from kiosk.app.i18n import brand_name, coupon_title, tr
from kiosk.app.screens import Action, Line, View

# app-level actions (handled by the root, not by the checkout flow)
APP_ACTIONS = ("wallet", "overlay_back", "self_test", "logs", "exit", "claim_coupon",
               "receipt")


def offer_view(offer: Mapping[str, Any] | None, lang: str,
               brands: Mapping[str, str] | None = None) -> View:
    """The touched ad's offer. `offer` grows as the app learns more: `coupon` (the campaign's
    coupon, None: no coupon, absent: still asking), `claim` ("claiming", "claimed", or the
    controller's error code)."""
    offer = offer or {}
    back = Action("overlay_back", tr("back", lang))
    lines = [Line(tr("offer_body", lang))]
    campaign = offer.get("campaign_id")
    if campaign:
        lines.append(Line(tr("offer_campaign", lang, campaign=brand_name(str(campaign), brands)),
                          "small"))
    coupon, claim = offer.get("coupon"), offer.get("claim")
    actions: tuple[Action, ...] = (replace(back, primary=True),)
    if "coupon" not in offer and offer.get("asking"):
        lines.append(Line(tr("offer_loading", lang), "small"))
    elif isinstance(coupon, Mapping):
        lines.insert(0, Line(tr("offer_coupon", lang, title=coupon_title(coupon, lang)),
                             "heading", "ok"))
        until = coupon.get("valid_to_ms", coupon.get("valid_until_ms"))  # coupon_wire: valid_to
        if isinstance(until, int) and until > 0:
            lines.insert(1, Line(tr("offer_until", lang, date=day(until)), "small"))
        if claim is None:
            actions = (Action("claim_coupon", tr("claim_coupon", lang), primary=True), back)
        elif claim == "claiming":
            lines.append(Line(tr("claiming", lang)))
            actions = (back,)
        elif claim == "claimed":
            lines.append(Line(tr("claimed", lang), tone="ok"))
            actions = (Action("wallet", tr("my_coupons", lang), primary=True), back)
        else:
            lines.append(Line(tr(CLAIM_ERRORS.get(str(claim), "claim_failed"), lang),
                              tone="error"))
    picture = offer.get("picture")
    return View("offer_page", tr("offer_title", lang), tuple(lines), actions=actions,
                picture=str(picture) if picture else None)


CLAIM_ERRORS = {"rate_limited": "claim_limit", "conflict": "claim_gone",
                "offline": "claim_offline"}


def day(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(epoch_ms / 1000))


def receipt_view(receipt: Mapping[str, Any] | None, lang: str) -> View:
    """The e-receipt QR: the shopper's phone opens the order's receipt page."""
    receipt = receipt or {}
    back = Action("overlay_back", tr("close", lang), primary=True)
    order = str(receipt.get("order_id", ""))
    url = receipt.get("url")
    if isinstance(url, str) and url:
        lines = [Line(tr("receipt_hint", lang), "heading")]
        until = receipt.get("expires_ms")
        if isinstance(until, int) and until > 0:
            lines.append(Line(tr("offer_until", lang, date=day(until)), "small"))
        lines.append(Line(tr("receipt_order", lang, order=order), "small"))
        return View("receipt", tr("receipt_title", lang), tuple(lines), qr=url, actions=(back,))
    if receipt.get("error"):
        return View("receipt", tr("receipt_title", lang),
                    (Line(tr("receipt_failed", lang), tone="error"),), actions=(back,))
    return View("receipt", tr("receipt_title", lang), (Line(tr("receipt_loading", lang)),),
                waiting=True, actions=(back,))


def wallet_view(coupons: Sequence[Mapping[str, Any]], lang: str) -> View:
    back = Action("overlay_back", tr("back", lang), primary=True)
    if not coupons:
        return View("wallet", tr("wallet", lang), (Line(tr("wallet_empty", lang)),),
                    actions=(back,))
    lines = []
    for coupon in coupons:
        lines.append(Line(coupon_title(coupon, lang), "heading", "ok"))
        lines.append(Line(tr("coupon_code", lang, code=coupon.get("code", "")), "small"))
    lines.append(Line(tr("coupon_hint", lang)))
    latest = str(coupons[-1].get("code", "")) or None
    return View("wallet", tr("wallet", lang), tuple(lines), qr=latest, actions=(back,))


INFO_KEYS = ("device", "store", "network", "broker", "content", "version")


def pin_view(lang: str, problem: str | None = None) -> View:
    lines = (Line(problem, tone="error"),) if problem else (Line(tr("tech_pin_hint", lang)),)
    return View("tech_pin", tr("tech_pin_title", lang), lines, keypad=True, secret=True,
                actions=(Action("overlay_back", tr("back", lang)),))


def technician_view(info: Mapping[str, str], detail: Sequence[str], lang: str) -> View:
    lines = tuple(Line(tr(f"info_{key}", lang, value=info.get(key) or "-"), "small")
                  for key in INFO_KEYS)
    actions = (Action("self_test", tr("self_test", lang), primary=True),
               Action("logs", tr("recent_logs", lang)),
               Action("exit", tr("exit_kiosk", lang)),
               Action("overlay_back", tr("back", lang)))
    return View("technician", tr("tech_title", lang), lines, actions=actions,
                detail=tuple(detail))
