"""Validated, immutable records of coupons, receipt claims, credential uses and fraud flags.

Same rules as `records`: constructing a record checks it and a bad value raises `ValueError`.
Times are UTC epoch milliseconds, money integer fen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from broker.storage.loyalty_records import (
    _ORDER_RE,
    _check_amount,
    _check_member_id,
    _check_pattern,
)
from broker.storage.loyalty_schema import (
    COUPON_KINDS,
    COUPON_STATES,
    COUPON_VALUE_KINDS,
    FLAG_STATUSES,
)
from broker.storage.records import _check_ms, _check_store_id, _fail
from broker.storage.signage_records import _check_brand_id, _check_sha256

COUPON_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
TOKEN_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_ISSUE_REF_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True, slots=True)
class CouponRecord:
    """A coupon: `amount_off_fen` off, or `percent_off` % capped at `max_off_fen` (None: no cap).

    `owner_member_id` None is shareable (first redeemer wins); `store_id` None is valid in
    every store of the brand; valid in [valid_from_ms, valid_to_ms). `issue_ref` makes issuing
    exactly-once per (brand_id, kind, issue_ref), e.g. the member id for a welcome coupon or
    'm-...:2025' for a birthday coupon. state: issued -> redeemed (-> issued when released)
    or issued -> void.
    """

    code: str
    brand_id: str
    kind: str
    valid_from_ms: int
    valid_to_ms: int
    issued_ms: int
    value_kind: str = "amount"
    amount_off_fen: int | None = None
    percent_off: int | None = None
    max_off_fen: int | None = None
    min_spend_fen: int = 0
    owner_member_id: str | None = None
    store_id: str | None = None
    issued_for_order: str | None = None
    issue_ref: str | None = None
    state: str = "issued"
    redeemed_order_id: str | None = None
    redeemed_by: str | None = None
    redeemed_ms: int | None = None
    updated_ms: int | None = None  # None: issued_ms

    def __post_init__(self) -> None:
        _check_pattern("coupon", "code", self.code, COUPON_CODE_RE)
        what = f"coupon {self.code!r}"
        _check_brand_id(what, self.brand_id)
        if self.kind not in COUPON_KINDS:
            _fail(what, f"kind must be one of {list(COUPON_KINDS)}, got {self.kind!r}")
        _check_ms(what, "valid_from_ms", self.valid_from_ms)
        _check_ms(what, "valid_to_ms", self.valid_to_ms)
        if self.valid_to_ms <= self.valid_from_ms:
            _fail(what, "valid_to_ms must be after valid_from_ms")
        _check_ms(what, "issued_ms", self.issued_ms)
        self._check_value(what)
        _check_amount(what, "min_spend_fen", self.min_spend_fen)
        _check_member_id(what, "owner_member_id", self.owner_member_id, optional=True)
        if self.store_id is not None:
            _check_store_id(what, self.store_id)
        _check_pattern(what, "issued_for_order", self.issued_for_order, _ORDER_RE, optional=True)
        _check_pattern(what, "issue_ref", self.issue_ref, _ISSUE_REF_RE, optional=True)
        if self.state not in COUPON_STATES:
            _fail(what, f"state must be one of {list(COUPON_STATES)}, got {self.state!r}")
        redeemed = (self.redeemed_order_id, self.redeemed_ms)
        if (self.state == "redeemed") != all(v is not None for v in redeemed):
            _fail(what, "redeemed_order_id and redeemed_ms are set exactly when redeemed")
        _check_pattern(what, "redeemed_order_id", self.redeemed_order_id, _ORDER_RE,
                       optional=True)
        _check_member_id(what, "redeemed_by", self.redeemed_by, optional=True)
        _check_ms(what, "redeemed_ms", self.redeemed_ms, optional=True)
        if self.updated_ms is None:
            object.__setattr__(self, "updated_ms", self.issued_ms)
        _check_ms(what, "updated_ms", self.updated_ms)

    def _check_value(self, what: str) -> None:
        if self.value_kind not in COUPON_VALUE_KINDS:
            _fail(what, f"value_kind must be one of {list(COUPON_VALUE_KINDS)}")
        if self.value_kind == "amount":
            _check_amount(what, "amount_off_fen", self.amount_off_fen, low=1)
            if self.percent_off is not None or self.max_off_fen is not None:
                _fail(what, "an amount coupon has no percent_off or max_off_fen")
        else:
            pct = self.percent_off
            if type(pct) is not int or not 1 <= pct <= 99:
                _fail(what, f"percent_off must be an integer 1..99, got {pct!r}")
            _check_amount(what, "max_off_fen", self.max_off_fen, low=1, optional=True)
            if self.amount_off_fen is not None:
                _fail(what, "a percent coupon has no amount_off_fen")

    def discount_fen(self, amount_fen: int) -> int:
        """The discount on an order of `amount_fen` (0 below the minimum spend; never more
        than the amount; percentages round down)."""
        if amount_fen < self.min_spend_fen or amount_fen <= 0:
            return 0
        if self.value_kind == "amount":
            assert self.amount_off_fen is not None
            return min(self.amount_off_fen, amount_fen)
        assert self.percent_off is not None
        off = amount_fen * self.percent_off // 100
        return off if self.max_off_fen is None else min(off, self.max_off_fen)


@dataclass(frozen=True, slots=True)
class ReceiptClaim:
    """A receipt QR's one-time token, claimed by a member for `points` at `brand_id`."""

    token_id: str
    brand_id: str
    store_id: str
    order_ref: str
    amount_fen: int
    points: int
    claimed_by: str
    claimed_ms: int

    def __post_init__(self) -> None:
        _check_pattern("receipt claim", "token_id", self.token_id, TOKEN_ID_RE)
        what = f"receipt claim {self.token_id!r}"
        _check_brand_id(what, self.brand_id)
        _check_store_id(what, self.store_id)
        _check_pattern(what, "order_ref", self.order_ref, _ORDER_RE)
        _check_amount(what, "amount_fen", self.amount_fen)
        _check_amount(what, "points", self.points)
        _check_member_id(what, "claimed_by", self.claimed_by)
        _check_ms(what, "claimed_ms", self.claimed_ms)


@dataclass(frozen=True, slots=True)
class CredentialUse:
    """A payment credential (its sha256, never the credential) paid `order_id` at a store."""

    credential_hash: str
    store_id: str
    used_ms: int
    order_id: str

    def __post_init__(self) -> None:
        what = f"credential use of order {self.order_id!r}"
        _check_sha256(what, "credential_hash", self.credential_hash)
        _check_store_id(what, self.store_id)
        _check_ms(what, "used_ms", self.used_ms)
        _check_pattern(what, "order_id", self.order_id, _ORDER_RE)


@dataclass(frozen=True, slots=True)
class FraudFlag:
    """Two uses of one credential too far apart too fast: `order_id` after `prior_order_id`.

    status: open -> cleared (points released) | confirmed (points voided). `flag_id` is 0
    before the flag is stored.
    """

    credential_hash: str
    order_id: str
    prior_order_id: str
    km: float
    kmh: float
    created_ms: int
    status: str = "open"
    resolved_ms: int | None = None
    note: str | None = None
    flag_id: int = 0

    def __post_init__(self) -> None:
        what = f"fraud flag of order {self.order_id!r}"
        _check_sha256(what, "credential_hash", self.credential_hash)
        _check_pattern(what, "order_id", self.order_id, _ORDER_RE)
        _check_pattern(what, "prior_order_id", self.prior_order_id, _ORDER_RE)
        if self.order_id == self.prior_order_id:
            _fail(what, "prior_order_id must be another order")
        for name in ("km", "kmh"):  # kmh is inf for two places at the same millisecond
            value: Any = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or math.isnan(value) or value < 0 or (name == "km" and math.isinf(value)):
                _fail(what, f"{name} must be a number >= 0 (km finite), got {value!r}")
            object.__setattr__(self, name, float(value))
        _check_ms(what, "created_ms", self.created_ms)
        if self.status not in FLAG_STATUSES:
            _fail(what, f"status must be one of {list(FLAG_STATUSES)}, got {self.status!r}")
        if (self.status == "open") != (self.resolved_ms is None):
            _fail(what, "resolved_ms is set exactly when the flag is resolved")
        _check_ms(what, "resolved_ms", self.resolved_ms, optional=True)
        if self.note is not None and (not isinstance(self.note, str) or len(self.note) > 2000):
            _fail(what, "note must be a string of at most 2000 chars or None")
        if type(self.flag_id) is not int or self.flag_id < 0:
            _fail(what, f"flag_id must be a non-negative integer, got {self.flag_id!r}")
