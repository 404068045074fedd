"""An ad's coupon at the terminal (docs/checkout.md): `ad.offer` shows it, `coupon.claim` issues it.

A shopper taps an ad in the attract loop; the terminal asks `ad.offer` for the campaign's
offer (`Campaign.offer`, booked through the signage API) and, with one more tap,
`coupon.claim` issues it: a bearer coupon of the campaign's brand (nobody is signed in at the
screen, so no member owns it; `coupon.apply` takes it once, on any order of that brand).

* The campaign is looked up by id whatever the terminal's store: the terminal plays what its
  signed playlist says (which may lag a campaign change by a moment) and the coupon is valid in
  every store of the brand, so the store's targeting adds nothing here. An archived campaign
  is `not_found`; a paused one shows no coupon and refuses claims (`conflict`).
* `ad.offer` shows the coupon only while it can be claimed: the offer's window is open and its
  `max_claims` are not all gone. Its validity is what a claim made now would get.
* `coupon.claim` needs an idempotency key: a repeat (same terminal, same key) returns the
  coupon of the first call, even when the offer has ended since. A terminal may claim at most
  `claims_per_hour` coupons of one campaign in any hour (`rate_limited`, with when to retry),
  so a screen cannot be farmed for codes.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.loyalty import coupon_codes
from broker.loyalty.coupons import CouponTemplate, FixedOff, PercentOff, issue
from broker.members.context import MemberContext
from broker.members.programme import coupon_record, coupon_wire
from broker.payments.checkout_api import Handler, _key, _params
from broker.payments.service import CheckoutError
from broker.signage.offer import CouponOffer
from broker.storage import ad_claims
from broker.storage import signage as signage_db
from broker.storage.errors import AlreadyExistsError
from broker.storage.reward_records import CouponRecord
from broker.storage.signage_records import CampaignRecord
from kiosk.wire.messages import Request

log = logging.getLogger(__name__)

CLAIMS_PER_HOUR = 30  # per terminal and campaign
HOUR_MS = 3_600_000
MAX_CODE_TRIES = 3  # a random code taken already: draw another


class CampaignParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def offer_template(campaign: CampaignRecord, offer: CouponOffer) -> CouponTemplate:
    """The loyalty template the offer's coupons are issued from (kind `campaign`)."""
    value: FixedOff | PercentOff
    if offer.amount_off_fen is not None:
        value = FixedOff(offer.amount_off_fen)
    else:
        assert offer.percent_off is not None and offer.max_off_fen is not None
        value = PercentOff(offer.percent_off, offer.max_off_fen)
    return CouponTemplate(
        template_id=f"ad/{campaign.campaign_id}", brand_id=campaign.brand_id, kind="campaign",
        value=value, min_spend_fen=offer.min_spend_fen, valid_days=offer.valid_days,
        window_start_ms=offer.window_start_ms, window_end_ms=offer.window_end_ms)


def offer_coupon(campaign: CampaignRecord, offer: CouponOffer, code: str,
                 now_ms: int) -> CouponRecord | None:
    """The bearer coupon a claim at `now_ms` gets; None when the offer's window has closed."""
    try:
        coupon = issue(offer_template(campaign, offer), code, now_ms)
    except ValueError:  # the window has closed: nothing can be issued any more
        return None
    return coupon_record(coupon, kind="campaign", now_ms=now_ms,
                         issue_ref=f"ad/{campaign.campaign_id}/{code}")


def offer_wire(coupon: CouponRecord) -> dict[str, object]:
    """`ad.offer`'s coupon: `coupon_wire` without a code, with its value and validity."""
    wire = {k: v for k, v in coupon_wire(coupon).items() if k not in ("code", "valid_to_ms")}
    return wire | {"value_kind": coupon.value_kind, "max_off_fen": coupon.max_off_fen,
                   "valid_from_ms": coupon.valid_from_ms, "valid_until_ms": coupon.valid_to_ms}


class AdOffers:
    def __init__(self, ctx: MemberContext, *, claims_per_hour: int = CLAIMS_PER_HOUR) -> None:
        self.ctx = ctx
        self.limits = ad_claims.ClaimLimits(per_device=claims_per_hour, window_ms=HOUR_MS)

    async def _campaign(self, campaign_id: str) -> tuple[CampaignRecord, CouponOffer | None]:
        record = await signage_db.get_campaign(self.ctx.db, campaign_id)
        if record is None or record.status == "archived":
            raise CheckoutError("not_found", f"no campaign {campaign_id!r}")
        raw = record.spec.get("offer")
        if raw is None:
            return record, None
        try:
            return record, CouponOffer.model_validate(raw)
        except ValidationError as exc:  # validated when booked: only a hand-edited row
            log.error("campaign %s: stored offer is invalid: %s", campaign_id, exc)
            return record, None

    async def _exhausted(self, campaign_id: str, offer: CouponOffer) -> bool:
        return (offer.max_claims is not None
                and await ad_claims.count_claims(self.ctx.db, campaign_id) >= offer.max_claims)

    async def offer(self, campaign_id: str) -> dict[str, Any]:
        record, offer = await self._campaign(campaign_id)
        coupon = None
        if offer is not None and record.status == "active":
            preview = offer_coupon(record, offer, "preview", self.ctx.now_ms())
            if preview is not None and not await self._exhausted(campaign_id, offer):
                coupon = offer_wire(preview)
        return {"campaign_id": record.campaign_id, "brand_id": record.brand_id,
                "title": record.name, "coupon": coupon}

    async def claim(self, campaign_id: str, device_id: str, key: str) -> dict[str, Any]:
        earlier = await ad_claims.find_claim(self.ctx.db, device_id, key)
        if earlier is not None:
            return {"coupon": coupon_wire(self._repeat(earlier, campaign_id, key))}
        record, offer = await self._campaign(campaign_id)
        if offer is None:
            raise CheckoutError("not_found", f"campaign {campaign_id!r} offers no coupon")
        if record.status != "active":
            raise CheckoutError("conflict", f"campaign {campaign_id!r} is {record.status}: "
                                "its coupon cannot be claimed now")
        limits = ad_claims.ClaimLimits(self.limits.per_device, self.limits.window_ms,
                                       offer.max_claims)
        for _ in range(MAX_CODE_TRIES):
            now = self.ctx.now_ms()
            coupon = offer_coupon(record, offer, coupon_codes.new_code(secrets.token_bytes), now)
            if coupon is None:
                raise CheckoutError("conflict", f"the offer of campaign {campaign_id!r} "
                                    "has ended")
            try:
                stored, created = await ad_claims.claim_coupon(
                    self.ctx.db, coupon, campaign_id=campaign_id, device_id=device_id,
                    idempotency_key=key, now_ms=now, limits=limits)
            except AlreadyExistsError:
                continue
            except ad_claims.ClaimRefusedError as exc:
                code = "rate_limited" if exc.reason == "rate_limited" else "conflict"
                raise CheckoutError(code, str(exc)) from None
            except ad_claims.KeyReusedError as exc:
                raise CheckoutError("conflict", str(exc)) from None
            if created:
                log.info("campaign %s: coupon %s claimed at %s", campaign_id, stored.code,
                         device_id)
            return {"coupon": coupon_wire(stored)}
        raise CheckoutError("unavailable", "no free coupon code was drawn; try again")

    @staticmethod
    def _repeat(earlier: tuple[str, CouponRecord], campaign_id: str, key: str) -> CouponRecord:
        if earlier[0] != campaign_id:
            raise CheckoutError("conflict", f"idempotency key {key!r} claimed campaign "
                                f"{earlier[0]!r} already")
        return earlier[1]


def ad_offer_handlers(offers: AdOffers) -> dict[str, Handler]:
    async def ad_offer(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(CampaignParams, req)
        return await offers.offer(p.campaign_id)

    async def claim(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(CampaignParams, req)
        return await offers.claim(p.campaign_id, device_id, _key(req))

    return {"ad.offer": ad_offer, "coupon.claim": claim}
