"""Receipt claims: the one-time QR on a receipt paid any other way (cash, card) gives points.

`claim_receipt` does everything in one transaction: it records the claim (the token is the
primary key, and a store's POS order can be claimed once even if the receipt is reprinted with
a new token), joins the member to the brand when needed (scanning a brand's receipt to collect
its points is joining it), records the purchase for RFM (order id 'receipt:{token}') and
credits the points (`earn`, ref 'receipt:{token}'). A second claim raises
`AlreadyClaimedError` and changes nothing. Checking the token's signature and expiry is the
caller's job; this stores the outcome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from broker.storage import _points_ledger as core
from broker.storage._sql import dialect_insert
from broker.storage.database import Database
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_errors import AlreadyClaimedError
from broker.storage.loyalty_records import (
    Balance,
    LedgerEntry,
    MembershipRecord,
    PurchaseRecord,
)
from broker.storage.loyalty_schema import (
    brand_memberships,
    member_purchases,
    members,
    receipt_claims,
)
from broker.storage.reward_records import ReceiptClaim
from broker.storage.schema import brands

_r = receipt_claims.c


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What a claim did: the points entry (None for 0 points), the balance after it, and
    whether the member joined the brand with this claim."""

    entry: LedgerEntry | None
    balance: Balance
    joined: bool


def receipt_ref(token_id: str) -> str:
    """The ledger ref and purchase order id of a receipt claim."""
    return f"receipt:{token_id}"


async def claim_receipt(db: Database, claim: ReceiptClaim, *,
                        tier: str = "member") -> ClaimResult:
    """Claim the receipt for `claim.claimed_by` and credit `claim.points` (see module doc).

    `AlreadyClaimedError` for a used token or an already claimed order of that store;
    `NotFoundError` for an unknown member or brand.
    """
    ref = receipt_ref(claim.token_id)
    membership = MembershipRecord(claim.claimed_by, claim.brand_id, claim.claimed_ms,
                                  tier=tier, source_order_id=ref)
    purchase = PurchaseRecord(claim.brand_id, ref, claim.claimed_by, claim.amount_fen,
                              claim.claimed_ms, source="receipt", store_id=claim.store_id)
    async with db.write() as conn:
        if (await conn.execute(select(members.c.member_id).where(
                members.c.member_id == claim.claimed_by))).first() is None:
            raise NotFoundError(f"member {claim.claimed_by!r} does not exist")
        if (await conn.execute(select(brands.c.brand_id).where(
                brands.c.brand_id == claim.brand_id))).first() is None:
            raise NotFoundError(f"brand {claim.brand_id!r} does not exist")
        stmt = (dialect_insert(db.dialect, receipt_claims).values(asdict(claim))
                .on_conflict_do_nothing().returning(_r.token_id))
        if (await conn.execute(stmt)).first() is None:
            raise await _already_claimed(conn, claim)
        join = (dialect_insert(db.dialect, brand_memberships).values(asdict(membership))
                .on_conflict_do_nothing(index_elements=["member_id", "brand_id"])
                .returning(brand_memberships.c.member_id))
        joined = (await conn.execute(join)).first() is not None
        await conn.execute(dialect_insert(db.dialect, member_purchases)
                           .values(asdict(purchase))
                           .on_conflict_do_nothing(index_elements=["brand_id", "order_id"]))
        entry: LedgerEntry | None = None
        if claim.points > 0:
            entry, _ = await core.post(conn, db.dialect, LedgerEntry(
                claim.claimed_by, claim.brand_id, claim.points, "earn", ref, claim.claimed_ms))
        balance = await core.read_balance(conn, claim.claimed_by, claim.brand_id)
    assert balance is not None
    return ClaimResult(entry, balance, joined)


async def _already_claimed(conn: AsyncConnection, claim: ReceiptClaim) -> AlreadyClaimedError:
    query = select(receipt_claims).where(or_(
        _r.token_id == claim.token_id,
        (_r.brand_id == claim.brand_id) & (_r.store_id == claim.store_id)
        & (_r.order_ref == claim.order_ref)))
    first = ReceiptClaim(**(await conn.execute(query.limit(1))).one()._mapping)
    return AlreadyClaimedError(claim.token_id, first.claimed_by, first.claimed_ms)


async def get_receipt_claim(db: Database, token_id: str) -> ReceiptClaim | None:
    async with db.read() as conn:
        row = (await conn.execute(select(receipt_claims)
                                  .where(_r.token_id == token_id))).first()
    return None if row is None else ReceiptClaim(**row._mapping)


async def list_member_claims(db: Database, member_id: str,
                             limit: int = 100) -> list[ReceiptClaim]:
    """The member's claims, newest first."""
    query = (select(receipt_claims).where(_r.claimed_by == member_id)
             .order_by(_r.claimed_ms.desc(), _r.token_id).limit(limit))
    async with db.read() as conn:
        return [ReceiptClaim(**r._mapping) for r in (await conn.execute(query)).all()]
