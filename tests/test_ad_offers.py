"""An ad's coupon: booked with the campaign through the signage API, shown by `ad.offer`,
claimed with `coupon.claim` (bearer coupon, once per idempotency key, rate-limited per
terminal), then used once with `coupon.apply`.

The end-to-end tests run a real shop (Mosquitto, sandbox WeChat Pay, controller on SQLite with
its HTTP server) and a real terminal agent; the storage tests run on SQLite and PostgreSQL; the
parsing of offers and request parameters is checked with hypothesis."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from checkout_fixtures import Shop, open_shop
from conftest import agent_for, needs_mosquitto, now_ms, provision
from hypothesis import given
from hypothesis import strategies as st
from loyalty_fixtures import T0, seed_brand
from PIL import Image
from pydantic import ValidationError
from storage_fixtures import db as db  # the fixture

from broker.loyalty.coupon_codes import parse_code
from broker.loyalty.coupons import DAY_MS
from broker.members.ad_offers import CLAIMS_PER_HOUR, HOUR_MS, CampaignParams, offer_coupon
from broker.mosquitto import ManagedBroker
from broker.payments.checkout_api import _params
from broker.payments.service import CheckoutError
from broker.signage import Campaign
from broker.signage.offer import CouponOffer
from broker.storage import Database, ad_claims
from broker.storage import coupons as coupon_db
from broker.storage import signage as signage_db
from broker.storage.errors import AlreadyExistsError
from broker.storage.reward_records import CouponRecord
from broker.storage.signage_records import BrandRecord, CampaignRecord, token_sha256
from kiosk.agent.agent import KioskAgent
from kiosk.wire.messages import Request, Response

BRAND = {"Authorization": "Bearer fm-token"}  # freshmart's operator (checkout_fixtures)
OFFER = {"amount_off_fen": 800, "min_spend_fen": 3_000, "valid_days": 7}
TILL = "till-ad-1"

# ---- the real shop -------------------------------------------------------------------------


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), "orange").save(out, "PNG")
    return out.getvalue()


def campaign_spec(sha: str, campaign_id: str, **changes: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"campaign_id": campaign_id, "brand_id": "freshmart", "name": "Autumn fruit",
            "flight_start": str(today - timedelta(days=1)),
            "flight_end": str(today + timedelta(days=7)), "dayparts": "Mon-Sun 00-24",
            "plays_per_hour": 6, "creatives": [{"sha256": sha, "duration_ms": 10_000}]} | changes


@asynccontextmanager
async def console(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    assert shop.http is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{shop.http.port}",
                                 timeout=20) as c:
        yield c


async def book(http: httpx.AsyncClient, campaign_id: str, offer: dict[str, Any] | None) -> None:
    """Upload the creative (once per shop: same bytes, same file) and book the campaign, then
    attach the offer with a PUT (as a brand edits a booked campaign)."""
    r = await http.post("/api/creatives", headers=BRAND,
                        files={"file": ("fruit.png", png(), "application/octet-stream")})
    assert r.status_code == 201, r.text
    spec = campaign_spec(r.json()["sha256"], campaign_id)
    r = await http.post("/api/campaigns", headers=BRAND, json=spec)
    assert r.status_code == 201, r.text
    if offer is not None:
        r = await http.put(f"/api/campaigns/{campaign_id}", json=spec | {"offer": offer},
                           headers=BRAND | {"If-Match": str(r.json()["revision"])})
        assert r.status_code == 200, r.text


async def call(agent: KioskAgent, method: str, key: str | None = None,
               **params: Any) -> Response:
    return await agent.request(method, params, idempotency_key=key, timeout=10)


def ok(r: Response) -> dict[str, Any]:
    assert r.ok, r.error
    assert r.result is not None
    return r.result


def refused(r: Response) -> tuple[str, str]:
    assert not r.ok and r.error is not None, r.result
    return r.error.code, r.error.message


def clock_of(shop: Shop) -> Callable[[int], None]:
    """Moves the member services' clock (rate-limit windows, coupon validity) forward."""
    ctx = shop.c.checkout.ctx  # type: ignore[union-attr]
    offset = [0]
    real = ctx.clock
    ctx.clock = lambda: real() + offset[0] / 1000

    def forward(ms: int) -> None:
        offset[0] += ms

    return forward


@needs_mosquitto
async def test_an_offer_is_attached_through_the_signage_api_and_refused_when_wrong(
        tmp_path: Path, broker: ManagedBroker) -> None:
    async with open_shop(tmp_path, broker) as shop, console(shop) as http:
        await book(http, "autumn", None)
        listed = (await http.get("/api/campaigns", headers=BRAND)).json()
        spec, revision = listed[0]["spec"], listed[0]["revision"]
        assert spec["offer"] is None

        async def put(offer: Any, rev: int = revision) -> httpx.Response:
            return await http.put("/api/campaigns/autumn", json=spec | {"offer": offer},
                                  headers=BRAND | {"If-Match": str(rev)})

        # another brand's coupon, both values, a percentage without a ceiling, a bad type
        wrong_brand = await put(OFFER | {"brand_id": "nordic"})
        assert wrong_brand.status_code == 422
        assert "only offer its own brand" in wrong_brand.text
        both = await put(OFFER | {"percent_off": 10})
        assert both.status_code == 422 and "exactly one of" in both.text
        uncapped = await put({"percent_off": 10})
        assert uncapped.status_code == 422 and "max_off_fen" in uncapped.text
        typo = await put(OFFER | {"amount_off": 5})
        assert typo.status_code == 422 and "offer.amount_off" in typo.text
        assert (await put(OFFER | {"amount_off_fen": "800"})).status_code == 422

        r = await put(OFFER | {"brand_id": "freshmart", "max_claims": 500})
        assert r.status_code == 200, r.text
        assert r.json()["revision"] == revision + 1
        assert r.json()["spec"]["offer"]["amount_off_fen"] == 800
        assert (await put(OFFER)).status_code == 412  # a stale revision
        stored = await signage_db.get_campaign(shop.c.db, "autumn")  # type: ignore[arg-type]
        assert stored is not None and stored.spec["offer"]["max_claims"] == 500
        # the offer plays no part in scheduling: the stored spec is still a campaign
        assert Campaign.model_validate(stored.spec).offer == CouponOffer(
            **OFFER, brand_id="freshmart", max_claims=500)


@needs_mosquitto
async def test_an_ads_coupon_is_claimed_once_per_tap_and_used_once(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop, console(shop) as http:
        db = shop.c.db
        assert db is not None
        await signage_db.create_brand(db, BrandRecord("teahouse", "Tea House",
                                                      token_sha256("th-token"), now_ms()))
        agent = await run_agent(agent_for(await provision(shop.c, TILL), tmp_path / "t"))
        await book(http, "autumn", OFFER)
        await book(http, "plain", None)

        before = now_ms()
        offer = ok(await call(agent, "ad.offer", campaign_id="autumn"))
        after = now_ms()
        assert (offer["campaign_id"], offer["brand_id"], offer["title"]) == (
            "autumn", "freshmart", "Autumn fruit")
        coupon = offer["coupon"]
        assert coupon["title"] == "¥8 off from ¥30" and coupon["kind"] == "campaign"
        assert (coupon["value_kind"], coupon["amount_off_fen"], coupon["percent_off"],
                coupon["min_spend_fen"]) == ("amount", 800, None, 3_000)
        assert before + 7 * DAY_MS <= coupon["valid_until_ms"] <= after + 7 * DAY_MS
        assert "code" not in coupon
        assert ok(await call(agent, "ad.offer", campaign_id="plain"))["coupon"] is None
        assert refused(await call(agent, "ad.offer", campaign_id="nope"))[0] == "not_found"
        assert refused(await call(agent, "ad.offer", campaign_id="a/b"))[0] == "bad_request"

        # claiming needs a key; a campaign without an offer has nothing to claim
        code, message = refused(await call(agent, "coupon.claim", campaign_id="autumn"))
        assert code == "bad_request" and "idempotency_key" in message
        assert refused(await call(agent, "coupon.claim", "claim-plain-1",
                                  campaign_id="plain"))[0] == "not_found"

        claimed = ok(await call(agent, "coupon.claim", "claim-tap-0001", campaign_id="autumn"))
        wallet = claimed["coupon"]
        assert parse_code(wallet["code"]) == wallet["code"]
        assert (wallet["brand_id"], wallet["kind"], wallet["amount_off_fen"]) == (
            "freshmart", "campaign", 800)
        again = ok(await call(agent, "coupon.claim", "claim-tap-0001", campaign_id="autumn"))
        assert again == claimed  # the same tap asked again: the same coupon, no second one
        assert await ad_claims.count_claims(db, "autumn") == 1
        assert refused(await call(agent, "coupon.claim", "claim-tap-0001",
                                  campaign_id="plain"))[0] == "conflict"  # key reused
        stored = await coupon_db.get_coupon(db, wallet["code"])
        assert stored is not None and stored.owner_member_id is None  # a bearer coupon
        assert stored.state == "issued" and stored.store_id is None

        # another brand's order cannot take it; this brand's order can, once
        tea = await shop.order(TILL, amount_fen=5_000, brand_id="teahouse")
        code, message = refused(await call(agent, "coupon.apply", "apply-tea-01",
                                           order_id=tea.order_id, code=wallet["code"]))
        assert code == "declined" and "wrong_brand" in message
        small = await shop.order(TILL, amount_fen=2_000)
        code, message = refused(await call(agent, "coupon.apply", "apply-small-1",
                                           order_id=small.order_id, code=wallet["code"]))
        assert code == "declined" and "below_min_spend" in message
        order = await shop.order(TILL, amount_fen=5_000)
        r = ok(await call(agent, "coupon.apply", "apply-0000001", order_id=order.order_id,
                          code=wallet["code"]))
        assert (r["order"]["payable_fen"], r["order"]["coupon_code"]) == (4_200,
                                                                          wallet["code"])
        second = await shop.order(TILL, amount_fen=5_000)
        code, message = refused(await call(agent, "coupon.apply", "apply-0000002",
                                           order_id=second.order_id, code=wallet["code"]))
        assert code == "declined" and "already_used" in message
        used = await coupon_db.get_coupon(db, wallet["code"])
        assert used is not None and used.state == "redeemed"
        assert used.redeemed_order_id == order.order_id


@needs_mosquitto
async def test_claims_are_limited_per_terminal_and_by_the_offer(
        tmp_path: Path, broker: ManagedBroker, run_agent: Any) -> None:
    async with open_shop(tmp_path, broker) as shop, console(shop) as http:
        forward = clock_of(shop)
        agent = await run_agent(agent_for(await provision(shop.c, TILL), tmp_path / "t"))
        other = await run_agent(agent_for(await provision(shop.c, "till-ad-2"), tmp_path / "u"))
        await book(http, "autumn", OFFER)
        end = now_ms() + 2 * HOUR_MS
        await book(http, "scarce", OFFER | {"max_claims": 2, "window_end_ms": end})

        codes = {ok(await call(agent, "coupon.claim", f"tap-{i:06d}",
                               campaign_id="autumn"))["coupon"]["code"]
                 for i in range(CLAIMS_PER_HOUR)}
        assert len(codes) == CLAIMS_PER_HOUR
        code, message = refused(await call(agent, "coupon.claim", "tap-over-limit",
                                           campaign_id="autumn"))
        assert code == "rate_limited" and "try again in" in message
        # a repeat of an earlier tap is no new claim; another terminal has its own limit
        assert ok(await call(agent, "coupon.claim", "tap-000000",
                             campaign_id="autumn"))["coupon"]["code"] in codes
        ok(await call(other, "coupon.claim", "tap-other-1", campaign_id="autumn"))
        forward(HOUR_MS)  # an hour on, the window has moved past the claims
        ok(await call(agent, "coupon.claim", "tap-next-hour", campaign_id="autumn"))

        # the offer's own cap: two coupons on all terminals, then it is gone
        ok(await call(agent, "coupon.claim", "scarce-1", campaign_id="scarce"))
        assert ok(await call(agent, "ad.offer", campaign_id="scarce"))["coupon"] is not None
        ok(await call(other, "coupon.claim", "scarce-2", campaign_id="scarce"))
        assert ok(await call(agent, "ad.offer", campaign_id="scarce"))["coupon"] is None
        code, message = refused(await call(agent, "coupon.claim", "scarce-3",
                                           campaign_id="scarce"))
        assert code == "conflict" and "have been claimed" in message

        # an offer whose window has closed, a paused campaign
        forward(2 * HOUR_MS)
        await book(http, "late", OFFER | {"window_end_ms": end})
        assert ok(await call(agent, "ad.offer", campaign_id="late"))["coupon"] is None
        code, message = refused(await call(agent, "coupon.claim", "late-0001", campaign_id="late"))
        assert code == "conflict" and "has ended" in message
        booked = await signage_db.get_campaign(shop.c.db, "autumn")  # type: ignore[arg-type]
        assert booked is not None
        r = await http.post("/api/campaigns/autumn/status", headers=BRAND,
                            json={"status": "paused", "revision": booked.revision})
        assert r.status_code == 200, r.text
        assert ok(await call(agent, "ad.offer", campaign_id="autumn"))["coupon"] is None
        code, message = refused(await call(agent, "coupon.claim", "paused-1",
                                           campaign_id="autumn"))
        assert code == "conflict" and "paused" in message


# ---- storage (SQLite and PostgreSQL) ------------------------------------------------------


def bearer(code: str, now: int = T0) -> CouponRecord:
    return CouponRecord(code=code, brand_id="freshmart", kind="campaign", valid_from_ms=now,
                        valid_to_ms=now + DAY_MS, issued_ms=now, amount_off_fen=500,
                        issue_ref=f"ad/c1/{code}")


async def test_claim_storage_repeats_limits_and_collisions(db: Database) -> None:
    await seed_brand(db)
    await signage_db.create_campaign(db, CampaignRecord("c1", "freshmart", "C1", {}, T0))
    limits = ad_claims.ClaimLimits(per_device=2, window_ms=HOUR_MS, total=3)

    async def claim(code: str, device: str, key: str, at: int = T0,
                    campaign: str = "c1") -> tuple[CouponRecord, bool]:
        return await ad_claims.claim_coupon(db, bearer(code, at), campaign_id=campaign,
                                            device_id=device, idempotency_key=key, now_ms=at,
                                            limits=limits)

    first, created = await claim("CODE0001", "t-1", "key-0001")
    assert created and first.code == "CODE0001"
    repeat, created = await claim("CODE0002", "t-1", "key-0001", T0 + 5)
    assert (repeat.code, created) == ("CODE0001", False)  # no second coupon
    assert await coupon_db.get_coupon(db, "CODE0002") is None
    with pytest.raises(AlreadyExistsError):  # the code is taken: the caller draws another
        await claim("CODE0001", "t-1", "key-0002")
    await claim("CODE0003", "t-1", "key-0002", T0 + 10)
    with pytest.raises(ad_claims.ClaimRefusedError) as limited:
        await claim("CODE0004", "t-1", "key-0003", T0 + 20)
    assert limited.value.reason == "rate_limited"
    assert limited.value.retry_after_ms == HOUR_MS - 20  # when the first claim leaves
    await claim("CODE0004", "t-1", "key-0003", T0 + HOUR_MS)  # it has left
    with pytest.raises(ad_claims.ClaimRefusedError) as gone:
        await claim("CODE0005", "t-2", "key-0001", T0 + HOUR_MS)
    assert gone.value.reason == "exhausted"
    with pytest.raises(ad_claims.KeyReusedError):
        await claim("CODE0006", "t-1", "key-0001", campaign="c2")
    assert await ad_claims.count_claims(db, "c1") == 3
    found = await ad_claims.find_claim(db, "t-1", "key-0002")
    assert found is not None and found[0] == "c1" and found[1].code == "CODE0003"
    owned = CouponRecord(code="CODE0007", brand_id="freshmart", kind="campaign",
                         valid_from_ms=T0, valid_to_ms=T0 + DAY_MS, issued_ms=T0,
                         amount_off_fen=500, owner_member_id="m-00000000")
    with pytest.raises(ValueError, match="bearer"):
        await ad_claims.claim_coupon(db, owned, campaign_id="c1", device_id="t-3",
                                     idempotency_key="key-0009", now_ms=T0, limits=limits)


# ---- parsing (hypothesis) ---------------------------------------------------------------

CAMPAIGN = CampaignRecord("autumn", "freshmart", "Autumn", {}, T0)
maybe_int = st.one_of(st.none(), st.integers(-5, 200_000_000))
maybe_ms = st.one_of(st.none(), st.integers(0, 4 * 10**12))


@given(amount=maybe_int, percent=st.one_of(st.none(), st.integers(-5, 120)), cap=maybe_int,
       minimum=st.integers(-5, 10**6), days=st.integers(-1, 400), start=maybe_ms,
       end=maybe_ms, now=st.integers(0, 4 * 10**12))
def test_an_offer_is_parsed_strictly_and_issues_what_it_says(
        amount: int | None, percent: int | None, cap: int | None, minimum: int, days: int,
        start: int | None, end: int | None, now: int) -> None:
    raw = {"amount_off_fen": amount, "percent_off": percent, "max_off_fen": cap,
           "min_spend_fen": minimum, "valid_days": days, "window_start_ms": start,
           "window_end_ms": end}
    valid = (
        (amount is None) != (percent is None)
        and (amount is None or (1 <= amount <= 100_000_000 and cap is None))
        and (percent is None or (1 <= percent <= 99 and cap is not None))
        and (cap is None or 1 <= cap <= 100_000_000)
        and minimum >= 0 and 1 <= days <= 366
        and (start is None or start <= 32_503_680_000_000)
        and (end is None or end <= 32_503_680_000_000)
        and (start is None or end is None or end > start))
    try:
        offer = CouponOffer.model_validate(raw)
    except ValidationError:
        assert not valid
        return
    assert valid
    coupon = offer_coupon(CAMPAIGN, offer, "CODE0001", now)
    opens = now if start is None else max(now, start)
    closes = now + days * DAY_MS if end is None else min(now + days * DAY_MS, end)
    if closes <= opens:
        assert coupon is None  # the window has closed: nothing to claim
        return
    assert coupon is not None and coupon.owner_member_id is None
    assert (coupon.valid_from_ms, coupon.valid_to_ms) == (opens, closes)
    assert (coupon.brand_id, coupon.kind, coupon.min_spend_fen) == ("freshmart", "campaign",
                                                                     minimum)
    assert (coupon.amount_off_fen, coupon.percent_off, coupon.max_off_fen) == (amount, percent,
                                                                                cap)


@given(st.text(max_size=80) | st.from_regex(r"[A-Za-z0-9_.-]{1,70}", fullmatch=True)
       | st.integers() | st.none())
def test_a_campaign_id_parameter_is_an_id_or_bad_request(value: Any) -> None:
    request = Request(method="ad.offer", params={"campaign_id": value})
    try:
        params = _params(CampaignParams, request)
    except CheckoutError as exc:
        assert exc.code == "bad_request" and exc.message.startswith("campaign_id:")
        assert not (isinstance(value, str) and len(value) <= 64 and value
                    and all(c.isascii() and (c.isalnum() or c in "_.-") for c in value))
        return
    assert params.campaign_id == value and len(value) <= 64


@given(st.dictionaries(st.sampled_from(["campaign_id", "code", "order_id", "x"]),
                       st.text(max_size=8), max_size=4))
def test_ad_requests_take_only_a_campaign_id(params: dict[str, Any]) -> None:
    try:
        _params(CampaignParams, Request(method="coupon.claim", params=params))
    except CheckoutError as exc:
        assert exc.code == "bad_request"
        assert set(params) != {"campaign_id"} or not params["campaign_id"] \
            or not all(c.isascii() and (c.isalnum() or c in "_.-")
                       for c in params["campaign_id"])
    else:
        assert set(params) == {"campaign_id"}
