"""Tables of members, points, stored value, coupons, receipt claims and fraud holds.

Registered on the shared `metadata` (same conventions as `schema`: times are UTC epoch ms in
BIGINT, money is integer fen, JSON as `JsonText`). Design choices:

- **Phone numbers are never stored.** `members` keeps `phone_hmac` (HMAC-SHA256 of the E.164
  number under a controller secret: finds "the member with this phone" and keeps one member per
  phone), `phone_masked` ('138****5678', what a terminal shows) and `phone_last4` (the face-pay
  second factor). The HMAC is keyed because the mask already reveals 7 of 11 digits: a plain
  hash of the remaining 10^4 candidates would be reversed in microseconds.
- **Ledgers are append-only** (`points_ledger`, `stored_value_ledger`); an entry's `delta` never
  changes, only a points entry's `status` moves for fraud review (posted <-> held -> void).
  Every entry has an exactly-once key (`points_ledger`: brand_id, kind, ref;
  `stored_value_ledger`: kind, ref) that `INSERT ... ON CONFLICT DO NOTHING` relies on.
- **Balances are derived and cached**: `brand_memberships.points_available/points_held` and
  `members.stored_value_fen` are the sums of the ledger's entries, updated in the transaction
  that appends (or re-statuses) an entry. The cached row is what makes a debit atomic on both
  engines: one conditional `UPDATE ... SET x = x - n WHERE x >= n` (row-locked on PostgreSQL,
  serialised by the write lock on SQLite); `verify_*` functions recompute the sums.
- `member_purchases` (not the `earn` entries) feed RFM: a purchase has an amount, earns zero
  points sometimes, and its points depend on promotions; refunds lower `refunded_fen`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from broker.storage.schema import _in, metadata

POINTS_KINDS: tuple[str, ...] = (
    "earn", "redeem", "refund_reversal", "redeem_return", "expire", "adjust",
)
ENTRY_STATUSES: tuple[str, ...] = ("posted", "held", "void")
STORED_VALUE_KINDS: tuple[str, ...] = ("topup", "payment", "refund", "adjust")
COUPON_KINDS: tuple[str, ...] = ("welcome", "birthday", "campaign", "cross_store")
COUPON_STATES: tuple[str, ...] = ("issued", "redeemed", "void")
COUPON_VALUE_KINDS: tuple[str, ...] = ("amount", "percent")
FLAG_STATUSES: tuple[str, ...] = ("open", "cleared", "confirmed")
PURCHASE_SOURCES: tuple[str, ...] = ("order", "receipt")

# An id column that autoincrements on both engines (SQLite only does it for INTEGER PRIMARY KEY).
_SERIAL = BigInteger().with_variant(Integer, "sqlite")



members = Table(
    "members",
    metadata,
    Column("member_id", String(40), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("phone_hmac", String(64), nullable=True, unique=True),
    Column("phone_masked", String(24), nullable=True),
    Column("phone_last4", String(4), nullable=True),
    Column("birthday", String(5), nullable=True, index=True),  # 'MM-DD'
    Column("created_ms", BigInteger, nullable=False),
    Column("stored_value_fen", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(
        "(phone_hmac IS NULL) = (phone_masked IS NULL) AND (phone_hmac IS NULL) = "
        "(phone_last4 IS NULL)",
        name="phone",
    ),
    CheckConstraint("stored_value_fen >= 0", name="stored_value"),
)

wallet_identities = Table(
    "wallet_identities",
    metadata,
    # openids are per app: one member has one row per (provider, app) it paid with
    Column("provider", String(16), nullable=False),
    Column("app_id", String(64), nullable=False),
    Column("payer_id", String(128), nullable=False),
    Column(
        "member_id", String(40), ForeignKey("members.member_id", ondelete="CASCADE"),
        nullable=False, index=True,
    ),
    Column("created_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("provider", "app_id", "payer_id"),
)

brand_memberships = Table(
    "brand_memberships",
    metadata,
    Column(
        "member_id", String(40), ForeignKey("members.member_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "brand_id", String(64), ForeignKey("brands.brand_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("joined_ms", BigInteger, nullable=False),
    Column("source_order_id", String(80), nullable=True),
    Column("tier", String(32), nullable=False),
    Column("tier_review_due_ms", BigInteger, nullable=True),
    # cached sums of this membership's points_ledger entries (status posted / held)
    Column("points_available", BigInteger, nullable=False, server_default="0"),
    Column("points_held", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("member_id", "brand_id"),
    Index(None, "brand_id", "joined_ms"),
    Index(None, "tier_review_due_ms"),
)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("entry_id", _SERIAL, primary_key=True, autoincrement=True),
    Column("member_id", String(40), nullable=False),
    Column("brand_id", String(64), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(128), nullable=False),  # the exactly-once key within (brand, kind)
    Column("order_id", String(80), nullable=True),  # the order it concerns (fraud holds)
    Column("created_ms", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("status_ms", BigInteger, nullable=False),
    CheckConstraint(_in("kind", POINTS_KINDS), name="kind"),
    CheckConstraint(_in("status", ENTRY_STATUSES), name="status"),
    CheckConstraint(
        "(kind IN ('earn', 'redeem_return') AND delta > 0) OR "
        "(kind IN ('redeem', 'refund_reversal', 'expire') AND delta < 0) OR "
        "(kind = 'adjust' AND delta <> 0)",
        name="sign",
    ),
    ForeignKeyConstraint(
        ["member_id", "brand_id"],
        ["brand_memberships.member_id", "brand_memberships.brand_id"],
        ondelete="CASCADE",
    ),
    UniqueConstraint("brand_id", "kind", "ref"),
    Index(None, "member_id", "brand_id", "entry_id"),
    Index(None, "order_id"),
)

stored_value_ledger = Table(
    "stored_value_ledger",
    metadata,
    Column("entry_id", _SERIAL, primary_key=True, autoincrement=True),
    Column(
        "member_id", String(40), ForeignKey("members.member_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("delta", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    CheckConstraint(_in("kind", STORED_VALUE_KINDS), name="kind"),
    CheckConstraint(
        "(kind IN ('topup', 'refund') AND delta > 0) OR (kind = 'payment' AND delta < 0) OR "
        "(kind = 'adjust' AND delta <> 0)",
        name="sign",
    ),
    UniqueConstraint("kind", "ref"),
    Index(None, "member_id", "entry_id"),
)

member_purchases = Table(
    "member_purchases",
    metadata,
    Column("brand_id", String(64), nullable=False),
    Column("order_id", String(80), nullable=False),  # our order id, or 'receipt:{token}'
    Column("member_id", String(40), nullable=False),
    Column("store_id", String(64), nullable=True),
    Column("source", String(8), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_ms", BigInteger, nullable=False),
    CheckConstraint(_in("source", PURCHASE_SOURCES), name="source"),
    CheckConstraint("amount_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= amount_fen",
                    name="amounts"),
    ForeignKeyConstraint(
        ["member_id", "brand_id"],
        ["brand_memberships.member_id", "brand_memberships.brand_id"],
        ondelete="CASCADE",
    ),
    PrimaryKeyConstraint("brand_id", "order_id"),
    Index(None, "brand_id", "paid_ms"),
    Index(None, "member_id", "brand_id", "paid_ms"),
)

coupons = Table(
    "coupons",
    metadata,
    Column("code", String(64), primary_key=True),
    Column(
        "brand_id", String(64), ForeignKey("brands.brand_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("kind", String(16), nullable=False),
    Column(
        "owner_member_id", String(40), ForeignKey("members.member_id", ondelete="CASCADE"),
        nullable=True,  # NULL: shareable, anyone may redeem it once
    ),
    Column("value_kind", String(8), nullable=False),
    Column("amount_off_fen", BigInteger, nullable=True),
    Column("percent_off", SmallInteger, nullable=True),
    Column("max_off_fen", BigInteger, nullable=True),
    Column("min_spend_fen", BigInteger, nullable=False, server_default="0"),
    Column("valid_from_ms", BigInteger, nullable=False),
    Column("valid_to_ms", BigInteger, nullable=False),  # exclusive
    Column("store_id", String(64), nullable=True),  # NULL: every store of the brand
    Column("issued_ms", BigInteger, nullable=False),
    Column("issued_for_order", String(80), nullable=True),
    # exactly-once issuing: (brand, kind, issue_ref) is unique, NULL refs are not constrained
    Column("issue_ref", String(128), nullable=True),
    Column("state", String(8), nullable=False),
    Column("redeemed_order_id", String(80), nullable=True),
    Column("redeemed_by", String(40), nullable=True),
    Column("redeemed_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    CheckConstraint(_in("kind", COUPON_KINDS), name="kind"),
    CheckConstraint(_in("state", COUPON_STATES), name="state"),
    CheckConstraint(_in("value_kind", COUPON_VALUE_KINDS), name="value_kind"),
    CheckConstraint("valid_to_ms > valid_from_ms", name="validity"),
    CheckConstraint("(state = 'redeemed') = (redeemed_order_id IS NOT NULL)", name="redeemed"),
    UniqueConstraint("brand_id", "kind", "issue_ref"),
    Index(None, "owner_member_id", "brand_id", "state"),
    Index(None, "redeemed_order_id"),
)

receipt_claims = Table(
    "receipt_claims",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("brand_id", String(64), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("order_ref", String(80), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column(
        "claimed_by", String(40), ForeignKey("members.member_id", ondelete="CASCADE"),
        nullable=False, index=True,
    ),
    Column("claimed_ms", BigInteger, nullable=False),
    CheckConstraint("amount_fen >= 0 AND points >= 0", name="amounts"),
    # a reprinted receipt (new token, same POS order) cannot be claimed a second time
    UniqueConstraint("brand_id", "store_id", "order_ref"),
)

credential_uses = Table(
    "credential_uses",
    metadata,
    Column("order_id", String(80), primary_key=True),  # one paying credential per order
    Column("credential_hash", String(64), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("used_ms", BigInteger, nullable=False),
    Index(None, "credential_hash", "used_ms"),
)

fraud_flags = Table(
    "fraud_flags",
    metadata,
    Column("flag_id", _SERIAL, primary_key=True, autoincrement=True),
    Column("credential_hash", String(64), nullable=False, index=True),
    Column("order_id", String(80), nullable=False, index=True),
    Column("prior_order_id", String(80), nullable=False, index=True),
    Column("km", Float, nullable=False),
    Column("kmh", Float, nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger, nullable=True),
    Column("note", Text, nullable=True),
    CheckConstraint(_in("status", FLAG_STATUSES), name="status"),
    CheckConstraint("km >= 0 AND kmh >= 0", name="distance"),
    UniqueConstraint("order_id", "prior_order_id"),
    Index(None, "status", "created_ms"),
)
