"""A member as the operator console shows it (loop-bound read).

Only the masked phone is shown (never its hash or last four digits, the face-pay second
factor). Per membership: tier and next review, points available and held, the points that
will expire and when (`expiry.expiring`), the latest ledger entries; then the member's coupons
of every state and the receipts claimed.
"""

from __future__ import annotations

from typing import Any

from broker.loyalty.expiry import expiring
from broker.members.context import MemberContext
from broker.members.jobs import DEFAULT_TZ, expiry_entries
from broker.members.programme import coupon_wire
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import points as points_db
from broker.storage import points_expiry
from broker.storage import receipts as receipt_db
from broker.storage.loyalty_records import LedgerEntry, MembershipRecord

LAST_ENTRIES = 20


def _entry(e: LedgerEntry) -> dict[str, Any]:
    return {"entry_id": e.entry_id, "delta": e.delta, "kind": e.kind, "ref": e.ref,
            "order_id": e.order_id, "status": e.status, "created_ms": e.created_ms}


async def _membership(ctx: MemberContext, m: MembershipRecord, now_ms: int,
                      tz: str) -> dict[str, Any]:
    months = ctx.programme(m.brand_id).expiry_months
    posted = await points_expiry.posted_entries(ctx.db, m.member_id, m.brand_id)
    entries = await points_db.list_points_entries(ctx.db, m.member_id, m.brand_id,
                                                  limit=LAST_ENTRIES)
    return {"brand_id": m.brand_id, "joined_ms": m.joined_ms, "tier": m.tier,
            "tier_review_due_ms": m.tier_review_due_ms,
            "points": {"available": m.points_available, "held": m.points_held},
            "expiring": [{"expires_ms": at, "points": p}
                         for at, p in expiring(expiry_entries(posted), now_ms, tz, months)],
            "entries": [_entry(e) for e in entries]}


async def member_view(ctx: MemberContext, member_id: str,
                      tz: str = DEFAULT_TZ) -> dict[str, Any] | None:
    """The member's profile, memberships and coupons; None for an unknown member."""
    member = await member_db.get_member(ctx.db, member_id)
    if member is None:
        return None
    now = ctx.now_ms()
    memberships = await member_db.list_memberships(ctx.db, member_id)
    coupons = await coupon_db.list_member_coupons(ctx.db, member_id, state=None)
    claims = await receipt_db.list_member_claims(ctx.db, member_id, limit=LAST_ENTRIES)
    return {
        "member": {"member_id": member.member_id, "display_name": member.display_name,
                   "masked_phone": member.phone_masked, "birthday": member.birthday,
                   "created_ms": member.created_ms,
                   "stored_value_fen": member.stored_value_fen},
        "memberships": [await _membership(ctx, m, now, tz) for m in memberships],
        "coupons": [coupon_wire(c) | {"state": c.state, "valid_from_ms": c.valid_from_ms,
                                      "redeemed_ms": c.redeemed_ms} for c in coupons],
        "receipts": [{"token_id": c.token_id, "brand_id": c.brand_id, "store_id": c.store_id,
                      "order_ref": c.order_ref, "amount_fen": c.amount_fen,
                      "points": c.points, "claimed_ms": c.claimed_ms} for c in claims],
    }
