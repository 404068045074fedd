"""The app's own controller calls on screen: an ad's coupon claimed with one tap into the
wallet, and the e-receipt QR after paying — in every screen profile. The controller here is a
stand-in with the documented answers (tests/test_app_journey.py runs them against the real
controller); what is checked is what the shopper sees: words, buttons, the QR scanning to the
code or link, nothing clipped or overlapping. Screenshots: var/screenshots/screens/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from app_harness import SHOTS, decode_qr, not_blank, ui
from app_states import COUPON, state

from kiosk.app.controller_calls import CallFailed
from kiosk.app.i18n import tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.services import Services
from kiosk.checkout.states import Idle

FOLDER = SHOTS / "screens"
AD_COUPON = {"code": "AD4Q-7Z2M-KX", "brand_id": "freshmart", "kind": "campaign",
             "title": "¥8 off", "amount_off_fen": 800, "percent_off": None,
             "min_spend_fen": 5000, "valid_to_ms": 1_900_000_000_000}
RECEIPT_URL = "http://127.0.0.1:8080/r/er1.b3p3c2FtcGxl.c2lnbmF0dXJl"


class Calls:
    """The controller's answers to the app's calls, with a failure to give when asked."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.claims: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def ad_offer(self, campaign_id: str) -> dict[str, Any]:
        return {"campaign_id": campaign_id, "brand_id": "freshmart", "title": "Autumn fruit",
                "coupon": {k: v for k, v in AD_COUPON.items() if k != "code"}}

    async def claim_coupon(self, campaign_id: str) -> dict[str, Any]:
        await self.gate.wait()
        self.claims.append(campaign_id)
        if self.fail:
            raise CallFailed(self.fail, "no")
        return dict(AD_COUPON)

    async def receipt_link(self, order_id: str) -> dict[str, Any]:
        await self.gate.wait()
        if self.fail:
            raise CallFailed(self.fail, "no")
        return {"url": RECEIPT_URL, "expires_ms": 1_900_000_000_000}


def check(name: str, expected: list[str]) -> Any:
    u = ui()
    _path, pixels = u.screenshot(name, FOLDER)
    assert not_blank(pixels), name
    assert u.problems() == [], f"{name}: layout problems"
    on_screen = " | ".join(u.texts())
    for text in expected:
        assert text in on_screen, f"{name}: {text!r} not on screen: {on_screen}"
    return pixels


def offer_root(calls: Calls, profile_name: str, lang: str) -> KioskRoot:
    root = KioskRoot(Services(calls=calls), PROFILES[profile_name])  # type: ignore[arg-type]
    root.shell = root.shell.open("offer", {"campaign_id": "autumn-fruit"})
    if lang == "en":
        root.act("lang")
    root.spawn(root._fetch_offer("autumn-fruit"))
    return root


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_an_ads_coupon_is_claimed_with_one_tap_into_the_wallet(profile_name: str) -> None:
    calls = Calls()
    root = offer_root(calls, profile_name, "zh")
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.until(lambda: "claim_coupon" in u.buttons(), "the claim button")
    check(f"ad-offer-coupon-{profile_name}", [tr("claim_coupon", "zh"), "立减 ¥8.00"])
    u.tap("claim_coupon")
    await u.until(lambda: u.has_text(tr("claimed", "zh")), "claimed")
    assert calls.claims == ["autumn-fruit"]
    assert "claim_coupon" not in u.buttons()  # one tap, one coupon
    check(f"ad-offer-claimed-{profile_name}", [tr("my_coupons", "zh")])
    u.tap("wallet")
    await u.until(lambda: root.screen == "wallet", "the wallet")
    await u.settle(2)
    pixels = check(f"wallet-ad-coupon-{profile_name}", [tr("wallet", "zh")])
    assert decode_qr(pixels) == AD_COUPON["code"]


@pytest.mark.parametrize("profile_name", list(PROFILES))
@pytest.mark.parametrize(("fail", "key"), [("rate_limited", "claim_limit"),
                                           ("conflict", "claim_gone"),
                                           ("offline", "claim_offline")])
async def test_a_claim_that_fails_says_why_in_the_shoppers_language(
        fail: str, key: str, profile_name: str) -> None:
    calls = Calls(fail=fail)
    root = offer_root(calls, profile_name, "en")
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.until(lambda: "claim_coupon" in u.buttons(), "the claim button")
    await u.settle(1)  # laid out
    u.tap("claim_coupon")
    await u.until(lambda: u.has_text(tr(key, "en")), f"the {fail} message")
    assert root.shell.coupons == ()
    check(f"ad-offer-{fail}-{profile_name}", [tr("back", "en")])


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_the_e_receipt_qr_after_paying_opens_the_receipt_link(profile_name: str) -> None:
    calls = Calls()
    calls.gate.clear()  # the link is slow to come: the page says it is being prepared
    flow_state, message, now = state("joined")
    root = KioskRoot(Services(calls=calls, now_ms=lambda: now),  # type: ignore[arg-type]
                     PROFILES[profile_name])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.settle(1)
    assert "receipt" in u.buttons()
    u.tap("receipt")
    await u.until(lambda: root.screen == "receipt", "the e-receipt page")
    await u.settle(1)
    check(f"receipt-waiting-{profile_name}", [tr("receipt_loading", "zh")])
    assert "spinner" in u.roles()
    calls.gate.set()
    await u.until(lambda: "qr" in u.roles(), "the e-receipt QR")
    await u.settle(2)
    pixels = check(f"receipt-{profile_name}", [tr("receipt_title", "zh")])
    assert decode_qr(pixels) == RECEIPT_URL
    root.on_checkout(state("done")[0], [])  # the flow ends meanwhile: the receipt stays up
    root.on_checkout(Idle(), [])
    await u.settle(1)
    assert root.screen == "receipt" and root.shell.coupons == ()
    u.tap("overlay_back")
    await u.until(lambda: root.screen == "attract", "the attract loop")
    assert COUPON["code"] not in " ".join(u.texts())


@pytest.mark.parametrize("profile_name", list(PROFILES))
async def test_no_e_receipt_button_without_a_controller_and_a_clear_page_when_it_fails(
        profile_name: str) -> None:
    flow_state, message, now = state("joined")
    root = KioskRoot(Services(now_ms=lambda: now), PROFILES[profile_name])
    root.on_checkout(flow_state, [message] if message else [])
    u = ui()
    u.show(root, PROFILES[profile_name])
    await u.settle(1)
    assert "receipt" not in u.buttons()
    failing = KioskRoot(Services(calls=Calls(fail="unavailable"), now_ms=lambda: now),  # type: ignore[arg-type]
                        PROFILES[profile_name])
    failing.on_checkout(flow_state, [message] if message else [])
    u.show(failing, PROFILES[profile_name])
    await u.settle(1)
    u.tap("receipt")
    await u.until(lambda: u.has_text(tr("receipt_failed", "zh")), "the failure")
    check(f"receipt-failed-{profile_name}", [tr("close", "zh")])
