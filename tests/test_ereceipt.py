"""E-receipt links: the signed token (pure), `receipt.link` and the page `/r/<token>` against
the real controller (sandbox payments, HTTP server)."""

from __future__ import annotations

import base64
import random
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import qrcode  # type: ignore[import-untyped]
from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision, wait_until
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]

from broker.loyalty import receipt_token
from broker.members import ereceipt
from broker.members.ereceipt import EReceiptClaim, EReceiptTokenError, issue, verify
from broker.members.ereceipt_desk import yuan
from broker.mosquitto import ManagedBroker
from broker.payments.order_input import NewOrder
from broker.storage import payments as pay_db
from broker.storage.payments_records import OrderRecord
from kiosk.agent.agent import KioskAgent
from kiosk.wire.messages import Request, Response

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUB = KEY.public_key()
T0 = 1_750_000_000_000
DAY = 86_400_000
ORDER = "oabcdefgh2345"
TOKEN = issue(KEY, ORDER, now_ms=T0)
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def reason(text: Any, now: int = T0 + 1, key: Ed25519PrivateKey = KEY) -> str:
    with pytest.raises(EReceiptTokenError) as err:
        verify(text, key.public_key(), now)
    return err.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ---- the token (pure) -------------------------------------------------------------------------

def test_round_trip_and_default_expiry_of_30_days() -> None:
    assert verify(TOKEN, PUB, T0) == EReceiptClaim(ORDER, T0 + 30 * DAY)
    assert verify(issue(KEY, ORDER, now_ms=T0, ttl_ms=5), PUB, T0 + 4).expires_ms == T0 + 5
    assert TOKEN.startswith("er1.") and TOKEN.count(".") == 2 and len(TOKEN) == 117
    assert all(c in B64 + "." for c in TOKEN)  # URL-safe as it is, in a path segment
    assert issue(KEY, ORDER, now_ms=T0) == TOKEN  # Ed25519 is deterministic


def test_a_link_fits_a_small_qr_code() -> None:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(ereceipt.link("https://shop.example.com/", TOKEN))
    qr.make(fit=True)
    assert qr.version <= 8
    assert ereceipt.link("http://h:1/", "t") == ereceipt.link("http://h:1", "t") == "http://h:1/r/t"


def test_expired_at_its_expiry_and_not_before() -> None:
    expires = T0 + 30 * DAY
    assert verify(TOKEN, PUB, expires - 1).order_id == ORDER
    assert reason(TOKEN, now=expires) == "expired"
    assert reason(TOKEN, now=expires + 365 * DAY) == "expired"


def test_another_key_or_a_tampered_token_is_a_bad_signature_never_expired() -> None:
    assert reason(TOKEN, key=OTHER) == "bad_signature"
    payload, sig = TOKEN[4:].split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=="))
    raw[-1] = ord("b") if raw[-1] != ord("b") else ord("c")  # another order id
    assert reason(f"er1.{b64(bytes(raw))}.{sig}") == "bad_signature"
    longer = (T0 + 90 * DAY).to_bytes(6, "big") + ORDER.encode()  # a longer life
    assert reason(f"er1.{b64(longer)}.{sig}") == "bad_signature"
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert reason(f"er1.{payload}.{flipped}", now=T0 + 365 * DAY) == "bad_signature"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1), st.sampled_from(B64 + ".=+/ %"))
def test_any_one_character_changed_is_refused(at: int, char: str) -> None:
    changed = TOKEN[:at] + char + TOKEN[at + 1:]
    if changed != TOKEN:
        assert reason(changed) in ("malformed", "bad_signature")


def test_a_points_receipt_token_is_not_an_e_receipt_link_and_back() -> None:
    points = receipt_token.issue(KEY, key_id="k1", brand_id="freshmart", store_id="sh-01",
                                 order_ref=ORDER, amount_fen=1_300, issued_ms=T0, ttl_ms=DAY,
                                 random_bytes=random.Random(1).randbytes)
    assert reason(points) == "malformed"
    assert reason("er1." + points[3:]) == "malformed"
    with pytest.raises(receipt_token.ReceiptTokenError):
        receipt_token.verify(TOKEN, {"k1": PUB}, T0)
    with pytest.raises(receipt_token.ReceiptTokenError):
        receipt_token.verify("R1." + TOKEN[4:], {"k1": PUB}, T0)
    # the prefix is signed: the same payload and signature under another kind or version fail
    payload, sig = TOKEN[4:].split(".")
    assert reason(f"er2.{payload}.{sig}") == "malformed"
    signed = "er2." + payload
    assert reason(f"er1.{payload}.{b64(KEY.sign(signed.encode()))}") == "bad_signature"


def test_malformed_tokens() -> None:
    payload, sig = TOKEN[4:].split(".")
    when = T0.to_bytes(6, "big")
    bad_ids = [f"er1.{b64(when + raw)}.{sig}"
               for raw in (b"oABCDEFGH2345", bytes(13), b"\xff" * 13, ORDER.encode() + b"a")]
    for text in ("", "er1.", "er1..", TOKEN + ".x", TOKEN + "=", "er1." + payload + "." + sig[:-2],
                 *bad_ids, "er1." + "A" * 300, None, 17, b"er1.x.y"):
        assert reason(text) == "malformed", text


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=400),
                 st.text(alphabet=B64 + ".=", max_size=200).map(lambda s: "er1." + s),
                 st.tuples(st.binary(max_size=40), st.binary(min_size=60, max_size=70))
                 .map(lambda p: f"er1.{b64(p[0])}.{b64(p[1])}")))
def test_arbitrary_text_raises_only_the_token_error(text: str) -> None:
    try:
        verify(text, PUB, T0)
    except EReceiptTokenError as exc:
        assert exc.reason in ("malformed", "bad_signature")
    else:
        pytest.fail(f"accepted {text!r}")


def test_issue_checks_its_input() -> None:
    for order in ("o-123", "oABCDEFGH2345", "oabcdefgh23450", ""):
        with pytest.raises(ValueError):
            issue(KEY, order, now_ms=T0)
    for ttl in (0, -1, 1 << 48):
        with pytest.raises(ValueError):
            issue(KEY, ORDER, now_ms=T0, ttl_ms=ttl)


def test_money_as_yuan() -> None:
    assert [yuan(f) for f in (0, 5, 1234, -300, 123_456_789)] == \
        ["¥0.00", "¥0.05", "¥12.34", "-¥3.00", "¥1,234,567.89"]


# ---- receipt.link and the page, against the controller --------------------------------------

ITEMS = [{"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650, "category": "dairy"},
         {"sku": "B7", "name": '<b>Cream & "co"</b>', "qty": 1, "unit_fen": 1234}]


async def new_order(shop: Shop, device_id: str) -> OrderRecord:
    assert shop.c.payments is not None
    order, _ = await shop.c.payments.create_order(NewOrder(
        store_id="sh-01", device_id=device_id, brand_id="freshmart",
        items=ITEMS, idempotency_key=f"pos-{now_ms()}-{id(object())}"))  # type: ignore[arg-type]
    return order


async def answer(shop: Shop, device_id: str, method: str, key: str | None = None,
                 **params: Any) -> Response:
    assert shop.c.checkout is not None
    return await shop.c.checkout.api.answer(device_id, Request(
        method=method, params=params, idempotency_key=key))


async def state_of(shop: Shop, order_id: str) -> str:
    assert shop.c.db is not None
    order = await pay_db.get_order(shop.c.db, order_id)
    assert order is not None
    return order.state


@needs_mosquitto
async def test_link_after_paying_opens_the_receipt_page(tmp_path: Path, broker: ManagedBroker,
                                                        run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop:
        agent: KioskAgent = await run_agent(agent_for(await provision(shop.c, "till-01"),
                                                      tmp_path / "t1"))
        await provision(shop.c, "till-02")
        order = await new_order(shop, "till-01")
        assert order.payable_fen == 2_534

        unpaid = await agent.request("receipt.link", {"order_id": order.order_id}, timeout=10)
        assert not unpaid.ok and unpaid.error is not None and unpaid.error.code == "conflict"

        paid = await agent.request("checkout.pay", {
            "order_id": order.order_id, "method": "code", "auth_code": "134567890123456789"},
            idempotency_key="pay-code-01", timeout=10)  # the sandbox pays this code at once
        assert paid.ok, paid.error

        async def is_paid() -> bool:
            return await state_of(shop, order.order_id) == "paid"
        await wait_until(is_paid, what="the order paid")

        assert shop.c.db is not None
        got = await pay_db.get_order(shop.c.db, order.order_id)
        assert got is not None and got.paid_ms is not None
        paid_at = datetime.fromtimestamp(got.paid_ms / 1000, ZoneInfo("Asia/Shanghai"))
        before = now_ms()
        r = await agent.request("receipt.link", {"order_id": order.order_id}, timeout=10)
        assert r.ok and r.result is not None, r.error
        url, expires = r.result["url"], r.result["expires_ms"]
        assert url.startswith(f"http://127.0.0.1:{shop.http_port}/r/er1.")
        assert before + 30 * DAY <= expires <= now_ms() + 30 * DAY

        page = await shop.admin.get(url)
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "private, no-store"
        assert page.headers["x-robots-tag"] == "noindex"
        assert 'name="viewport"' in page.text
        text = page.text
        for shown in ("FreshMart", "sh-01", "Milk", "¥6.50", "¥13.00", "¥12.34", "¥25.34",
                      "¥0.00", order.order_id, paid_at.strftime("%Y-%m-%d %H:%M"),
                      "WeChat Pay (sandbox), payment code",
                      "&lt;b&gt;Cream &amp; &#34;co&#34;&lt;/b&gt;"):
            assert shown in text, shown
        assert "<b>Cream" not in text and "Refunded" not in text
        assert 'id="payable">¥25.34<' in text

        # another terminal's order is not found; a bad order id is a bad request
        other = await answer(shop, "till-02", "receipt.link", order_id=order.order_id)
        assert not other.ok and other.error is not None and other.error.code == "not_found"
        missing = await answer(shop, "till-01", "receipt.link", order_id="oaaaaaaaaaaaa")
        assert missing.error is not None and missing.error.code == "not_found"
        bad = await answer(shop, "till-01", "receipt.link", order_id="o-1")
        assert bad.error is not None and bad.error.code == "bad_request"

        # a tampered token, a points receipt token: 404; an expired one: 410
        token = url.rsplit("/", 1)[1]
        tampered = token[:6] + ("A" if token[6] != "A" else "B") + token[7:]
        base = f"http://127.0.0.1:{shop.http_port}/r/"
        for wrong in (tampered, token[:-3], "er1.x.y", "nothing"):
            r404 = await shop.admin.get(base + wrong)
            assert r404.status_code == 404, wrong
            assert "not valid" in r404.text and order.order_id not in r404.text
            assert r404.headers["cache-control"] == "private, no-store"
        assert shop.c.checkout is not None
        key = shop.c.checkout.receipt_key
        old = issue(key, order.order_id, now_ms=now_ms() - 31 * DAY)
        gone = await shop.admin.get(base + old)
        assert gone.status_code == 410 and "expired" in gone.text
        assert order.order_id not in gone.text

        # refunded in full: the page says so
        assert shop.c.payments is not None
        await shop.c.payments.refunder.refund(order.order_id, 2_534, "rf-ereceipt-1", "test")

        async def refunded() -> bool:
            return await state_of(shop, order.order_id) == "refunded"
        await wait_until(refunded, what="the order refunded")
        again = await shop.admin.get(url)
        assert again.status_code == 200 and "Refunded" in again.text
        relinked = await agent.request("receipt.link", {"order_id": order.order_id}, timeout=10)
        assert relinked.ok, relinked.error
