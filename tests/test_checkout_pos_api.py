"""The POS side over HTTP: orders, refunds, reconciliation; forged notifications refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from checkout_fixtures import open_shop
from conftest import needs_mosquitto, provision, wait_until

from broker.mosquitto import ManagedBroker
from broker.payments.order_input import PayParams
from broker.storage import payments as pay_db

pytestmark = needs_mosquitto
ADMIN = {"Authorization": "Bearer test-admin-token"}


def order_body(key: str, **changes: Any) -> dict[str, Any]:
    body = {"store_id": "sh-01", "device_id": "till-09", "brand_id": "freshmart",
            "items": [{"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650,
                       "category": "dairy"}],
            "idempotency_key": key}
    return body | changes


async def test_orders_refunds_and_reconciliation_over_http(tmp_path: Path,
                                                           broker: ManagedBroker) -> None:
    async with open_shop(tmp_path, broker) as shop:
        await provision(shop.c, "till-09")
        assert shop.http is not None and shop.c.payments is not None and shop.c.db
        url = f"http://127.0.0.1:{shop.http.port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.post("/api/orders", json=order_body("pos-00001"))).status_code \
                == 401
            r = await http.post("/api/orders", json=order_body("pos-00001"), headers=ADMIN)
            assert r.status_code == 201, r.text
            order = r.json()["order"]
            assert order["amount_fen"] == 1300 and order["state"] == "open"
            again = await http.post("/api/orders", json=order_body("pos-00001"), headers=ADMIN)
            assert again.status_code == 200 and again.json()["order"]["order_id"] == (
                order["order_id"])
            clash = await http.post("/api/orders", headers=ADMIN, json=order_body(
                "pos-00001", items=[{"sku": "B", "name": "Bread", "qty": 1, "unit_fen": 5}]))
            assert clash.status_code == 409
            bad = await http.post("/api/orders", headers=ADMIN,
                                  json=order_body("pos-00002", amount_fen=999))
            assert bad.status_code == 422 and "total" in bad.text

            # paid by QR through the sandbox
            _, attempt = await shop.c.payments.service.pay(
                "till-09", PayParams(order_id=order["order_id"], method="native"),
                "pay-00000001")
            await shop.sandbox_post("/sandbox/scan", {"code_url": attempt.code_url,
                                                      "approve": True})

            async def paid() -> bool:
                got = await pay_db.get_order(shop.c.db, order["order_id"])  # type: ignore[arg-type]
                return got is not None and got.state == "paid"
            await wait_until(paid, what="paid")

            # a forged notification (valid JSON, no signature) changes nothing
            forged = await http.post("/pay/notify/sandbox", content=b'{"id":"x","resource":{}}',
                                     headers={"Content-Type": "application/json"})
            assert forged.status_code >= 400
            assert shop.c.payments.notifications.stats.rejected >= 1

            # refunds: partial, idempotent on the refund number, never beyond the payment
            path = f"/api/orders/{order['order_id']}/refunds"
            r1 = await http.post(path, headers=ADMIN, json={"amount_fen": 300,
                                                            "out_refund_no": "rf-000001"})
            assert r1.status_code == 200, r1.text
            r1b = await http.post(path, headers=ADMIN, json={"amount_fen": 300,
                                                             "out_refund_no": "rf-000001"})
            assert r1b.status_code == 200
            too_much = await http.post(path, headers=ADMIN, json={
                "amount_fen": 1001, "out_refund_no": "rf-000002"})
            assert too_much.status_code == 409

            async def refunded() -> bool:
                got = (await http.get(f"/api/orders/{order['order_id']}",
                                      headers=ADMIN)).json()
                return got["order"]["refunded_fen"] == 300
            await wait_until(refunded, what="the refund to succeed at the provider")
            rest = await http.post(path, headers=ADMIN, json={"amount_fen": 1000,
                                                              "out_refund_no": "rf-000003"})
            assert rest.status_code == 200

            async def fully() -> bool:
                got = (await http.get(f"/api/orders/{order['order_id']}",
                                      headers=ADMIN)).json()
                return got["order"]["state"] == "refunded"
            await wait_until(fully, what="the order fully refunded")

            day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
            rec = await http.get("/api/payments/reconciliation", params={"date": day},
                                 headers=ADMIN)
            assert rec.status_code == 200, rec.text
            report = rec.json()
            assert report["balanced"] and report["matched"] == 1 and report["source"] == "bill"
