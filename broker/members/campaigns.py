"""Coupon campaigns to an RFM segment (loop-bound): one `campaign` coupon per member, once.

The segment is computed when the campaign is posted; every member in it gets a coupon with
issue ref '{campaign_id}:{member_id}', so posting the same campaign again issues only to
members who entered the segment since (none, usually). The coupons are written in batches
(one transaction each), so a large segment neither holds the write lock for long nor loses
what was done when interrupted: the next post finishes it. A campaign id already used with
other terms is refused (`CampaignConflict`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from broker.loyalty import coupon_codes
from broker.loyalty.coupons import DAY_MS
from broker.loyalty.rfm import Segment
from broker.members.segments import members_in_segment
from broker.storage import coupon_batches
from broker.storage.database import Database
from broker.storage.reward_records import CouponRecord

log = logging.getLogger(__name__)
BATCH = 200
MAX_CODE_RETRIES = 3


class CampaignConflict(Exception):
    """The campaign id was used before with other coupon terms."""


@dataclass(frozen=True, slots=True)
class CampaignTerms:
    brand_id: str
    campaign_id: str
    segment: Segment
    valid_days: int
    min_spend_fen: int = 0
    amount_off_fen: int | None = None
    percent_off: int | None = None
    max_off_fen: int | None = None

    def coupon(self, member_id: str, now_ms: int) -> CouponRecord:
        value: dict[str, object] = (
            {"value_kind": "amount", "amount_off_fen": self.amount_off_fen}
            if self.amount_off_fen is not None else
            {"value_kind": "percent", "percent_off": self.percent_off,
             "max_off_fen": self.max_off_fen})
        return CouponRecord(
            code=coupon_codes.new_code(secrets.token_bytes), brand_id=self.brand_id,
            kind="campaign", valid_from_ms=now_ms, valid_to_ms=now_ms + self.valid_days * DAY_MS,
            issued_ms=now_ms, min_spend_fen=self.min_spend_fen, owner_member_id=member_id,
            issue_ref=f"{self.campaign_id}:{member_id}", **value)  # type: ignore[arg-type]

    def same_terms(self, c: CouponRecord) -> bool:
        return ((c.amount_off_fen, c.percent_off, c.max_off_fen, c.min_spend_fen)
                == (self.amount_off_fen, self.percent_off, self.max_off_fen, self.min_spend_fen)
                and c.valid_to_ms - c.valid_from_ms == self.valid_days * DAY_MS)


@dataclass(frozen=True, slots=True)
class CampaignResult:
    campaign_id: str
    segment: str
    members: int  # in the segment now
    issued: int  # new coupons this time
    already_issued: int


async def _issue(db: Database, batch: Sequence[CouponRecord]) -> int:
    stored, retry = await coupon_batches.issue_coupon_batch(db, batch)
    issued = len(stored)
    for _ in range(MAX_CODE_RETRIES):  # random codes collided with other coupons: new codes
        if not retry:
            break
        stored, retry = await coupon_batches.issue_coupon_batch(db, [
            replace(c, code=coupon_codes.new_code(secrets.token_bytes)) for c in retry])
        issued += len(stored)
    if retry:
        log.error("campaign coupons not issued after %d new codes: %s", MAX_CODE_RETRIES,
                  [c.issue_ref for c in retry])
    return issued


async def run_campaign(db: Database, terms: CampaignTerms, now_ms: int) -> CampaignResult:
    earlier = await coupon_batches.first_coupon_with_ref_prefix(
        db, terms.brand_id, "campaign", f"{terms.campaign_id}:")
    if earlier is not None and not terms.same_terms(earlier):
        raise CampaignConflict(f"campaign {terms.campaign_id!r} was issued with other terms")
    members = await members_in_segment(db, terms.brand_id, terms.segment, now_ms)
    issued = 0
    for start in range(0, len(members), BATCH):
        chunk = members[start:start + BATCH]
        issued += await _issue(db, [terms.coupon(m, now_ms) for m in chunk])
    log.info("campaign %s of %s: %d members in %s, %d coupons issued", terms.campaign_id,
             terms.brand_id, len(members), terms.segment, issued)
    return CampaignResult(terms.campaign_id, terms.segment, len(members), issued,
                          len(members) - issued)
