"""The app's own pages as `screens.View`s (pure): an ad's offer and the coupon wallet.

The wallet holds the coupons this shopper received at this terminal (the welcome coupon of a
one-tap join); each shows as a QR of its code, so the shopper can keep it on the phone. It is
emptied when the terminal goes back to the attract loop (a shared screen keeps nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kiosk.app.i18n import brand_name, coupon_title, tr
from kiosk.app.screens import Action, Line, View

# app-level actions (handled by the root, not by the checkout flow)
APP_ACTIONS = ("wallet", "overlay_back", "self_test", "logs", "exit")


def offer_view(offer: Mapping[str, Any] | None, lang: str,
               brands: Mapping[str, str] | None = None) -> View:
    lines = [Line(tr("offer_body", lang))]
    campaign = (offer or {}).get("campaign_id")
    if campaign:
        lines.append(Line(tr("offer_campaign", lang, campaign=brand_name(str(campaign), brands)),
                          "small"))
    picture = (offer or {}).get("picture")
    return View("offer_page", tr("offer_title", lang), tuple(lines),
                actions=(Action("overlay_back", tr("back", lang), primary=True),),
                picture=str(picture) if picture else None)


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
