"""The table of coupons claimed at a terminal from an ad's offer (`Campaign.offer`).

One row per claim: the terminal and the request's idempotency key (the primary key: a repeat
of the request finds its coupon), the signage campaign, and the coupon issued (a bearer coupon
in `coupons`). The (campaign_id, device_id, claimed_ms) index serves the per-terminal rate
limit and the campaign's total. A new table: `Database.create_schema` adds it to databases
made before it existed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, PrimaryKeyConstraint, String, Table

from broker.storage import loyalty_schema  # noqa: F401  (the coupons table referred to)
from broker.storage.schema import metadata

ad_coupon_claims = Table(
    "ad_coupon_claims",
    metadata,
    Column("device_id", String(63), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column(
        "code", String(64), ForeignKey("coupons.code", ondelete="CASCADE"), nullable=False,
        unique=True,
    ),
    Column("claimed_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("device_id", "idempotency_key"),
    Index(None, "campaign_id", "device_id", "claimed_ms"),
)
