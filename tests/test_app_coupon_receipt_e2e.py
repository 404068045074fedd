"""The app's own calls against a real store (Mosquitto, the controller, the WeChat Pay
sandbox), by touches on the real app: an ad's coupon is claimed into the wallet, used on the
next order (the payable drops on screen), the order is paid by QR, and the e-receipt QR on the
screen opens the receipt page, which shows the coupon's discount. Screenshots go to
var/screenshots/journey/ (prefix `coupon-`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app_harness import SHOTS, decode_qr, not_blank, ui
from checkout_fixtures import open_shop
from conftest import agent_for, needs_mosquitto, provision
from test_ad_offers import OFFER, book, console

from broker.mosquitto import ManagedBroker
from kiosk.app.controller_calls import AppCalls
from kiosk.app.i18n import money, tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.services import Services
from kiosk.checkout.service import TerminalCheckout

pytestmark = needs_mosquitto
FOLDER = SHOTS / "journey"


async def test_claim_an_ads_coupon_use_it_pay_and_open_the_e_receipt(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    profile = PROFILES["10in-landscape"]
    async with open_shop(tmp_path, broker) as shop, console(shop) as http:
        await book(http, "autumn", OFFER)  # ¥8 off from ¥30, the campaign's own coupon
        agent = agent_for(await provision(shop.c, "till-cp"), tmp_path / "t")
        till = TerminalCheckout(agent)
        root = KioskRoot(Services(device_id="till-cp", checkout=till, calls=AppCalls(agent),
                                  online=agent.connected.is_set), profile)
        await run_agent(agent)
        u = ui()
        u.show(root, profile)

        def shot(name: str) -> None:
            _path, pixels = u.screenshot(f"coupon-{name}", FOLDER)
            assert not_blank(pixels) and u.problems() == [], name

        try:
            # the shopper touched the autumn ad (the attract loop's tap opens its offer)
            root.shell = root.shell.open("offer", {"campaign_id": "autumn", "asking": True})
            root.spawn(root._fetch_offer("autumn"))
            root.act("lang")
            await u.until(lambda: "claim_coupon" in u.buttons(), "the ad's coupon")
            assert u.has_text("Coupon with this ad: ¥8.00 off on ¥30.00 or more")
            await u.settle(2)
            shot("offer")
            u.tap("claim_coupon")
            await u.until(lambda: u.has_text(tr("claimed", "en")), "the coupon claimed")
            [coupon] = root.shell.coupons
            shot("claimed")

            order = await shop.order("till-cp", amount_fen=5000, category="fresh")
            await u.until(lambda: "use_coupon" in u.buttons(), "the order, with my coupon")
            await u.settle(1)
            u.tap("use_coupon")
            await u.until(lambda: u.has_text(money(4200)), "the payable after the coupon")
            assert till.state.order.coupon_code == coupon["code"]  # type: ignore[union-attr]
            assert "use_coupon" not in u.buttons()  # one coupon per order
            await u.settle(1)
            shot("order-with-coupon")

            u.tap("pay")
            await u.until(lambda: "method:native" in u.buttons(), "the payment choices")
            await u.settle(1)
            u.tap("method:native")
            await u.until(lambda: "qr" in u.roles(), "the payment QR")
            await u.settle(2)
            code_url = decode_qr(u.capture())
            await shop.sandbox_post("/sandbox/scan", {"code_url": code_url, "approve": True})
            await u.until(lambda: "receipt" in u.buttons(), "paid, with the e-receipt", 30)
            await u.settle(1)
            u.tap("receipt")
            await u.until(lambda: "qr" in u.roles() and root.screen == "receipt",
                          "the e-receipt QR")
            await u.settle(2)
            shot("e-receipt")
            url = decode_qr(u.capture())
            assert url.startswith(f"http://127.0.0.1:{shop.http_port}/r/")
            page = await shop.admin.get(url)  # what the shopper's phone opens
            assert page.status_code == 200
            assert "¥42.00" in page.text and "¥8.00" in page.text and order.order_id in page.text
        finally:
            await till.aclose()
