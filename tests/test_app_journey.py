"""A shopper's whole visit, by simulated touches on the real app, against a real store
(Mosquitto, the controller, the WeChat Pay sandbox): attract loop → tap the ad → the POS rings
up an order → pay by QR (the sandbox wallet scans the code read back from the screenshot) →
one tap to join → points shown → the e-receipt QR opens the receipt page → the coupon wallet →
back to the attract loop. Screenshots of every step go to
var/screenshots/journey/."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from app_harness import SHOTS, decode_qr, not_blank, ui
from checkout_fixtures import open_shop
from conftest import agent_for, needs_mosquitto, provision, wait_until

from broker.mosquitto import ManagedBroker
from broker.storage import events as event_db
from kiosk.app.controller_calls import AppCalls
from kiosk.app.i18n import money, tr
from kiosk.app.profiles import PROFILES
from kiosk.app.root import KioskRoot
from kiosk.app.sample_library import build_sample_library, library_resolver
from kiosk.app.services import Services
from kiosk.app.shell import Shell
from kiosk.checkout.service import TerminalCheckout
from kiosk.playback import Playback
from kiosk.signage import TerminalSignage

pytestmark = needs_mosquitto
FOLDER = SHOTS / "journey"


async def test_attract_to_qr_pay_to_join_and_back(tmp_path: Path, broker: ManagedBroker,
                                                  run_agent: Any) -> None:
    profile = PROFILES["12in-landscape"]
    sample = build_sample_library(tmp_path / "content", int(time.time() * 1000))
    async with open_shop(tmp_path, broker) as shop:
        agent = agent_for(await provision(shop.c, "till-ui"), tmp_path / "t")
        till = TerminalCheckout(agent)
        holder: dict[str, KioskRoot] = {}
        playback = Playback(agent.record, show=lambda play: holder["root"].show_play(play))
        root = KioskRoot(Services(device_id="till-ui", checkout=till, playback=playback,
                                  resolve=library_resolver(sample.library),
                                  online=agent.connected.is_set, calls=AppCalls(agent)),
                         profile)
        holder["root"] = root
        await run_agent(agent)
        # the signage stack plays what the verified library holds (here: the samples)
        signage = asyncio.create_task(TerminalSignage(agent, sample.library,
                                                      playback=playback).run())
        u = ui()
        shots: list[str] = []

        def shot(name: str) -> None:
            _path, pixels = u.screenshot(f"{len(shots) + 1:02d}-{name}", FOLDER)
            assert not_blank(pixels), name
            assert u.problems() == [], name
            shots.append(name)

        try:
            u.show(root, profile)
            stage = root.attract.stage
            await u.until(lambda: stage.current is not None and stage.current.texture is not None,
                          "the first ad")
            await u.settle(4)
            shot("attract")

            w, h = u.window.size
            u.tap_at(w / 2, h / 2)  # the shopper touches the ad
            await u.until(lambda: root.screen == "offer", "the ad's offer")
            assert u.has_text(tr("offer_title", "zh"))
            shot("ad-offer")

            u.tap("lang")  # reads English better
            await u.until(lambda: u.has_text("Offer in this store"), "English")

            order = await shop.order("till-ui", amount_fen=2500, category="fresh")
            await u.until(lambda: u.has_text("Your order"), "the order on screen")
            assert u.has_text(money(2500))
            shot("order")

            u.tap("pay")
            await u.until(lambda: "method:native" in u.buttons(), "the payment choices")
            assert "method:code" in u.buttons()
            shot("payment-methods")

            u.tap("method:native")
            await u.until(lambda: "qr" in u.roles(), "the QR code")
            await u.settle(2)
            shot("qr")
            code_url = decode_qr(u.capture())
            assert code_url == till.state.code_url  # type: ignore[union-attr]
            await shop.sandbox_post("/sandbox/scan", {"code_url": code_url, "approve": True})

            await u.until(lambda: "join" in u.buttons(), "paid, and the offer to join", 30)
            assert u.has_text("Paid. Thank you!")
            assert u.has_text("Get 50 points for this purchase")
            shot("join-offer")

            u.tap("join")
            await u.until(lambda: u.has_text("Confirm and join") or u.has_text("+50 points"),
                          "joined (or the profile to confirm)")
            if u.has_text("Confirm and join"):  # a wallet known on the platform: its profile
                u.tap("join")
            await u.until(lambda: u.has_text("+50 points for this purchase"), "points shown")
            assert u.has_text("Points balance: 50")
            assert u.has_text("Welcome coupon")
            shot("joined-points")

            await u.settle(1)
            u.tap("receipt")  # the e-receipt: a QR the shopper's phone opens
            await u.until(lambda: root.screen == "receipt" and "qr" in u.roles(),
                          "the e-receipt QR")
            await u.settle(2)
            shot("e-receipt")
            page = await shop.admin.get(decode_qr(u.capture()))
            assert page.status_code == 200 and money(2500) in page.text
            assert order.order_id in page.text
            u.tap("overlay_back")
            await u.until(lambda: "wallet" in u.buttons(), "back to the points")
            await u.settle(1)

            u.tap("wallet")
            await u.until(lambda: root.screen == "wallet", "the coupon wallet")
            coupon = till.state.result.coupon  # type: ignore[union-attr]
            assert coupon is not None and decode_qr(u.capture()) == coupon["code"]
            shot("coupon-wallet")
            u.tap("overlay_back")
            await u.until(lambda: "close" in u.buttons() or root.screen == "attract", "back")
            if "close" in u.buttons():
                u.tap("close")

            await u.until(lambda: root.screen == "attract", "the attract loop again")
            await u.until(lambda: stage.current is not None, "an ad playing again")
            await u.settle(4)
            # nothing of this shopper stays: no coupons, the default language again
            assert root.shell == Shell()
            assert u.has_text(tr("touch_hint", "zh"))
            shot("attract-again")
        finally:
            signage.cancel()
            await till.aclose()

        assert shots == ["attract", "ad-offer", "order", "payment-methods", "qr", "join-offer",
                         "joined-points", "e-receipt", "coupon-wallet", "attract-again"]
        db = shop.c.db
        assert db is not None

        async def reported() -> bool:
            per_type = await event_db.events_per_type(db)
            return all(per_type.get(t, 0) >= 1 for t in (
                "ad.touch", "ad.play", "checkout.paid", "member.joined"))
        await wait_until(reported, what="the visit's events at the controller")
        assert order.order_id
