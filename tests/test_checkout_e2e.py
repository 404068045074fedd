"""Checkout end to end: POS order → terminal over MQTT → sandbox WeChat Pay → notification to
the controller's HTTP server → paid → one-tap join with points and a welcome coupon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, provision, wait_until

from broker.mosquitto import ManagedBroker
from broker.storage import payments as pay_db
from broker.storage import points as points_db
from kiosk.agent.agent import KioskAgent

pytestmark = needs_mosquitto


async def call(agent: KioskAgent, rpc: str, key: str | None = None,
               **params: Any) -> dict[str, Any]:
    r = await agent.request(rpc, params, idempotency_key=key, timeout=10)
    assert r.ok, r.error
    assert r.result is not None
    return r.result


async def pay_by_qr(shop: Shop, agent: KioskAgent, order_id: str, payer: str | None = None,
                    key: str = "pay-native-1") -> dict[str, Any]:
    res = await call(agent, "checkout.pay", key, order_id=order_id, method="native")
    assert res["attempt"]["state"] == "waiting" and res["attempt"]["code_url"]
    scan: dict[str, Any] = {"code_url": res["attempt"]["code_url"], "approve": True}
    if payer:
        scan["payer_id"] = payer
    await shop.sandbox_post("/sandbox/scan", scan)
    return res


async def test_pay_by_qr_then_join_with_one_tap(tmp_path: Path, broker: ManagedBroker,
                                               run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        creds = await provision(shop.c, "till-01")
        agent = await run_agent(agent_for(creds, tmp_path / "t1"))
        pushed: list[dict[str, Any]] = []

        async def on_order(args: dict[str, Any]) -> dict[str, Any]:
            pushed.append(args)
            return {}
        agent.commands.register("checkout.order", on_order)
        agent.commands.register("checkout.update", on_order)

        order = await shop.order("till-01", amount_fen=4200, category="fresh")
        await wait_until(lambda: any(p.get("order", {}).get("order_id") == order.order_id
                                     for p in pushed), what="order pushed to the terminal")
        first = await pay_by_qr(shop, agent, order.order_id)
        # the same request again (a lost response) is the same trade, not a second one
        again = await call(agent, "checkout.pay", "pay-native-1", order_id=order.order_id,
                           method="native")
        assert again["attempt"]["out_trade_no"] == first["attempt"]["out_trade_no"]

        async def paid() -> bool:
            res = await call(agent, "checkout.status", order_id=order.order_id)
            return res["order"]["state"] == "paid"
        await wait_until(paid, what="the notification marking the order paid")
        await wait_until(lambda: any(p.get("attempt", {}) and p["attempt"]["state"] == "paid"
                                     for p in pushed), what="paid pushed to the terminal")

        offer = await call(agent, "member.offer", order_id=order.order_id)
        assert offer["eligible"] and offer["profile"] is None
        assert offer["points"] == 84  # 42 yuan of fresh food at x2
        joined = await call(agent, "member.join", "join-0001", order_id=order.order_id,
                            confirm=True)
        assert joined["points_credited"] == 84 and joined["balance"] == 84
        assert joined["coupon"]["kind"] == "welcome"
        again = await call(agent, "member.join", "join-0001", order_id=order.order_id,
                           confirm=True)
        assert again["balance"] == 84  # credited once

        # the next purchase with the same wallet earns at once, without asking
        second = await shop.order("till-01", amount_fen=1000)
        await pay_by_qr(shop, agent, second.order_id, key="pay-native-2")

        async def credited() -> bool:
            bal = await points_db.balance(shop.c.db, joined["member_id"], "freshmart")  # type: ignore[arg-type]
            return bal.available == 94
        await wait_until(credited, what="points of the second purchase")
        offer2 = await call(agent, "member.offer", order_id=second.order_id)
        assert not offer2["eligible"] and offer2["already_member"]


async def test_payment_code_userpaying_is_polled_to_success(tmp_path: Path,
                                                            broker: ManagedBroker,
                                                            run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        agent = await run_agent(agent_for(await provision(shop.c, "till-02"), tmp_path / "t"))
        order = await shop.order("till-02")
        res = await call(agent, "checkout.pay", "code-0001", order_id=order.order_id,
                         method="code", auth_code="134567890123456791")  # paid after 1 s
        assert res["attempt"]["state"] == "waiting"

        async def paid() -> bool:
            got = await pay_db.get_order(shop.c.db, order.order_id)  # type: ignore[arg-type]
            return got is not None and got.state == "paid"
        await wait_until(paid, what="the sweeper's query finding the payment")
        declined = await agent.request("checkout.pay", {
            "order_id": (await shop.order("till-02")).order_id, "method": "code",
            "auth_code": "134567890123456780"}, idempotency_key="code-0002")
        assert not declined.ok and declined.error is not None
        assert declined.error.code == "declined"


async def test_terminal_flow_over_mqtt_from_order_to_joined(tmp_path: Path,
                                                           broker: ManagedBroker,
                                                           run_agent: Any) -> None:
    """The terminal's own checkout flow (kiosk.checkout) against the real controller."""
    from kiosk.checkout.service import TerminalCheckout
    from kiosk.checkout.states import screen_name

    async with open_shop(tmp_path, broker) as shop:
        agent = agent_for(await provision(shop.c, "till-03"), tmp_path / "t3")
        till = TerminalCheckout(agent)
        await run_agent(agent)
        screens: list[str] = []
        till.add_listener(lambda state, _msgs: screens.append(screen_name(state)))
        order = await shop.order("till-03", amount_fen=2500, category="fresh")
        await wait_until(lambda: screen_name(till.state) == "OrderShown",
                         what="the pushed order on screen")
        await till.start_payment()
        await till.choose_method("native")
        await wait_until(lambda: screen_name(till.state) == "ShowingQr", what="the QR")
        await shop.sandbox_post("/sandbox/scan", {"code_url": till.state.code_url,  # type: ignore[union-attr]
                                                  "approve": True})
        await wait_until(lambda: screen_name(till.state) == "OfferJoin",
                         what="paid, then the offer to join")
        await till.tap_join()
        if screen_name(till.state) == "OfferJoin":  # a prefilled profile asks to confirm
            await till.tap_join()
        await wait_until(lambda: screen_name(till.state) == "Joined", what="joined")
        assert till.state.result.points_credited == 50  # type: ignore[union-attr]
        assert "Paid" in screens
        got = await pay_db.get_order(shop.c.db, order.order_id)  # type: ignore[arg-type]
        assert got is not None and got.member_id is not None
        await till.aclose()


async def test_a_terminal_that_was_offline_catches_up_on_its_order(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    """The POS rang up an order before the terminal ever connected (the broker kept no
    session for it, so the push is gone): the terminal asks for it once connected."""
    from kiosk.checkout.service import TerminalCheckout
    from kiosk.checkout.states import screen_name

    async with open_shop(tmp_path, broker) as shop:
        creds = await provision(shop.c, "till-04")
        order = await shop.order("till-04", amount_fen=990)
        agent = agent_for(creds, tmp_path / "t4")
        till = TerminalCheckout(agent)
        await run_agent(agent)
        await wait_until(lambda: screen_name(till.state) == "OrderShown",
                         what="the order fetched after connecting")
        assert till.state.order.order_id == order.order_id  # type: ignore[union-attr]
        await till.aclose()
