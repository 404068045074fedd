"""Tables of orders, payment attempts, refunds and provider notifications.

An order is what the shopper owes; an attempt is one trade at a provider (`out_trade_no`). An
order has at most one *live* attempt at a time; a failed, closed or reversed attempt leaves the
order open for another method. Money is integer fen, times UTC epoch ms.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
)

from broker.storage.schema import JsonText, _in, metadata

ORDER_STATES: tuple[str, ...] = ("open", "paying", "paid", "closed", "refunded")
ATTEMPT_STATES: tuple[str, ...] = ("pending", "waiting", "closing", "paid", "failed", "closed",
                                   "reversed")
ATTEMPT_METHODS: tuple[str, ...] = ("native", "code", "face_balance", "face_agreement")
REFUND_STATES: tuple[str, ...] = ("pending", "processing", "success", "failed")



orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("store_id", String(64), nullable=False),
    Column("device_id", String(63), nullable=False),
    Column("brand_id", String(64), nullable=False),
    Column("items", JsonText, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("discount_fen", BigInteger, nullable=False, server_default="0"),
    # the member prices' part of discount_fen (0: no member of the brand identified yet)
    Column("member_discount_fen", BigInteger, nullable=False, server_default="0"),
    Column("points_used", BigInteger, nullable=False, server_default="0"),
    Column("coupon_code", String(64), nullable=True),
    Column("member_id", String(40), nullable=True),
    Column("state", String(16), nullable=False),
    # who created it and with which key: a repeated POS request finds its order again
    Column("source", String(16), nullable=False),
    Column("request_key", String(200), nullable=False, unique=True),
    Column("request_sha256", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("paid_ms", BigInteger, nullable=True),
    Column("paid_trade_no", String(32), nullable=True),
    Column("payer", String(128), nullable=True),  # provider:app:payer id of the paying wallet
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # after-payment work (points, purchase record, fraud check) done: the sweeper redoes it
    # for paid orders where a crash came between the payment and this flag
    Column("settled", Boolean, nullable=False, server_default=false()),
    CheckConstraint(_in("state", ORDER_STATES), name="state"),
    CheckConstraint("amount_fen > 0 AND discount_fen >= 0 AND discount_fen < amount_fen",
                    name="amounts"),
    CheckConstraint("member_discount_fen >= 0 AND member_discount_fen <= discount_fen",
                    name="member_discount"),
    CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen - discount_fen",
                    name="refunded"),
    Index(None, "device_id", "created_ms"),
    Index(None, "state", "expires_ms"),
    Index(None, "paid_ms"),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("out_trade_no", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("provider", String(16), nullable=False),
    Column("method", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    # the outcome of the provider call is unknown: only a query may settle it
    Column("unknown", Boolean, nullable=False, server_default=false()),
    Column("amount_fen", BigInteger, nullable=False),
    Column("request_key", String(200), nullable=False, unique=True),
    Column("code_url", Text, nullable=True),
    Column("contract_id", String(64), nullable=True),
    Column("transaction_id", String(64), nullable=True),
    Column("payer", String(128), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),  # QR screen / payment code deadline
    Column("next_check_ms", BigInteger, nullable=True),  # NULL: nothing to do (final)
    Column("checks", Integer, nullable=False, server_default="0"),
    CheckConstraint(_in("state", ATTEMPT_STATES), name="state"),
    CheckConstraint(_in("method", ATTEMPT_METHODS), name="method"),
    Index(None, "next_check_ms"),
    Index(None, "created_ms"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("out_refund_no", String(64), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("out_trade_no", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("refund_id", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("next_check_ms", BigInteger, nullable=True),
    CheckConstraint(_in("state", REFUND_STATES), name="state"),
    CheckConstraint("amount_fen > 0", name="amount"),
    Index(None, "next_check_ms"),
)

payment_notifications = Table(
    "payment_notifications",
    metadata,
    # the provider's notification id: a repeat delivery is recognised and answered OK
    Column("notification_id", String(64), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("out_trade_no", String(64), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("outcome", String(32), nullable=False),
)

wallet_agreements = Table(
    "wallet_agreements",
    metadata,
    # a member's pre-authorised wallet agreement (face pay without a code)
    Column("member_id", String(40), primary_key=True),
    Column("provider", String(16), primary_key=True),
    Column("contract_id", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

store_locations = Table(
    "store_locations",
    metadata,
    # where a store is: the fraud check's distance between two uses of one payment credential
    Column("store_id", String(64), ForeignKey("stores.store_id", ondelete="CASCADE"),
           primary_key=True),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="range"),
)
