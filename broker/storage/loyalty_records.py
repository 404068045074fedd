"""Validated, immutable records of members, memberships, ledgers and purchases.

Same rules as `records`: constructing a record checks it and a bad value raises `ValueError`
naming the record and the field. Times are UTC epoch milliseconds, money integer fen.
Coupons, receipt claims and fraud records are in `reward_records`.

Phones: `protect_phone(e164, key)` turns a number into the three stored fields (see
`loyalty_schema`); the number itself is dropped. `key` is a controller secret of >= 16 bytes;
changing it makes every `phone_hmac` unfindable, so keep it with the database's backups.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from broker.storage.loyalty_schema import ENTRY_STATUSES, POINTS_KINDS, STORED_VALUE_KINDS
from broker.storage.records import _check_ms, _check_store_id, _check_text, _fail
from broker.storage.signage_records import _check_brand_id, _check_sha256

MEMBER_ID_RE = re.compile(r"^m-[0-9a-z]{8,38}$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_BIRTHDAY_RE = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_TOKEN_RE = re.compile(r"^[a-z0-9_]{1,16}$")
_REF_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
_ORDER_RE = re.compile(r"^[\x21-\x7e]{1,80}$")
MAX_POINTS = 10**12  # one entry's |delta|, and fen amounts: far beyond any real value


def new_member_id() -> str:
    """A fresh member id: 'm-' and 24 random lowercase hex digits (96 bits)."""
    return "m-" + secrets.token_hex(12)


def is_e164(phone: Any) -> bool:
    return isinstance(phone, str) and _E164_RE.match(phone) is not None


@dataclass(frozen=True, slots=True)
class PhoneFields:
    """What `members` stores of a phone number: keyed hash, masked form, last four digits."""

    phone_hmac: str
    phone_masked: str
    phone_last4: str


def phone_hmac(phone: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of an E.164 number under the controller's phone key (lookup key)."""
    if not is_e164(phone):
        raise ValueError(f"phone must be E.164 like '+8613812345678', got {phone!r}")
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError("the phone key must be at least 16 bytes")
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """'+8613812345678' -> '138****5678'; other countries keep their '+cc' prefix digits."""
    if not is_e164(phone):
        raise ValueError(f"phone must be E.164 like '+8613812345678', got {phone!r}")
    digits = phone[1:]
    if digits.startswith("86") and len(digits) == 13:  # mainland mobile: 3 + 4 hidden + 4
        national = digits[2:]
        return f"{national[:3]}****{national[-4:]}"
    return f"+{digits[:3]}****{digits[-4:]}"


def protect_phone(phone: str, key: bytes) -> PhoneFields:
    return PhoneFields(phone_hmac(phone, key), mask_phone(phone), phone[-4:])


def last4_matches(member: MemberRecord, digits: str) -> bool:
    """The second factor: True when `digits` are the member's phone's last four (const time)."""
    if member.phone_last4 is None or not isinstance(digits, str):
        return False
    return hmac.compare_digest(member.phone_last4.encode(), digits.encode())


def _check_member_id(what: str, name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not MEMBER_ID_RE.match(value):
        _fail(what, f"{name} must look like 'm-' + 8-38 of [0-9a-z], got {value!r}")


def _check_pattern(what: str, name: str, value: Any, pattern: re.Pattern[str],
                   *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not pattern.match(value):
        _fail(what, f"{name} must match {pattern.pattern}, got {value!r}")


def _check_amount(what: str, name: str, value: Any, *, low: int = 0,
                  optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not low <= value <= MAX_POINTS:
        _fail(what, f"{name} must be an integer {low}..{MAX_POINTS}, got {value!r}")


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A shopper. Phone fields are all set or all None (a wallet may not share the number)."""

    member_id: str
    display_name: str
    created_ms: int
    phone_hmac: str | None = None
    phone_masked: str | None = None
    phone_last4: str | None = None
    birthday: str | None = None  # 'MM-DD'
    stored_value_fen: int = 0  # cached sum of the stored-value ledger (read-only here)

    def __post_init__(self) -> None:
        _check_member_id("member", "member_id", self.member_id)
        what = f"member {self.member_id!r}"
        _check_text(what, "display_name", self.display_name, 100)
        _check_ms(what, "created_ms", self.created_ms)
        phone = (self.phone_hmac, self.phone_masked, self.phone_last4)
        if any(v is not None for v in phone):
            _check_sha256(what, "phone_hmac", self.phone_hmac)
            _check_text(what, "phone_masked", self.phone_masked, 24)
            last4 = self.phone_last4
            if not isinstance(last4, str) or len(last4) != 4 or not last4.isascii() \
                    or not last4.isdigit():
                _fail(what, f"phone_last4 must be 4 digits, got {last4!r}")
        b = self.birthday
        if b is not None and (not isinstance(b, str) or not _BIRTHDAY_RE.match(b)
                              or int(b[3:]) > _DAYS_IN_MONTH[int(b[:2]) - 1]):
            _fail(what, f"birthday must be a real 'MM-DD' day, got {b!r}")
        _check_amount(what, "stored_value_fen", self.stored_value_fen)

    @classmethod
    def new(cls, display_name: str, created_ms: int, *, phone: PhoneFields | None = None,
            birthday: str | None = None) -> MemberRecord:
        """A member with a fresh id (and the protected phone, when given)."""
        fields: dict[str, Any] = {} if phone is None else {
            "phone_hmac": phone.phone_hmac, "phone_masked": phone.phone_masked,
            "phone_last4": phone.phone_last4}
        return cls(new_member_id(), display_name, created_ms, birthday=birthday, **fields)


@dataclass(frozen=True, slots=True)
class WalletIdentity:
    """A wallet payer: (provider, app_id, payer_id) - an openid is only unique within its app."""

    provider: str
    app_id: str
    payer_id: str

    def __post_init__(self) -> None:
        what = "wallet identity"
        _check_pattern(what, "provider", self.provider, _TOKEN_RE)
        _check_pattern(what, "app_id", self.app_id, re.compile(r"^[\x21-\x7e]{1,64}$"))
        _check_pattern(what, "payer_id", self.payer_id, _REF_RE)


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    """A member's membership of one brand, with the cached points balance."""

    member_id: str
    brand_id: str
    joined_ms: int
    tier: str = "member"
    source_order_id: str | None = None
    tier_review_due_ms: int | None = None
    points_available: int = 0
    points_held: int = 0

    def __post_init__(self) -> None:
        _check_member_id("membership", "member_id", self.member_id)
        what = f"membership of {self.member_id!r}"
        _check_brand_id(what, self.brand_id)
        _check_ms(what, "joined_ms", self.joined_ms)
        _check_text(what, "tier", self.tier, 32)
        _check_pattern(what, "source_order_id", self.source_order_id, _ORDER_RE, optional=True)
        _check_ms(what, "tier_review_due_ms", self.tier_review_due_ms, optional=True)
        for name in ("points_available", "points_held"):
            value = getattr(self, name)
            if type(value) is not int:
                _fail(what, f"{name} must be an integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class Balance:
    """Points of one membership: `available` counts posted entries, `held` those under review.

    `available` can be negative: a refund reverses points the member already spent.
    """

    available: int
    held: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One points ledger entry (`entry_id` 0 before it is stored)."""

    member_id: str
    brand_id: str
    delta: int
    kind: str
    ref: str
    created_ms: int
    order_id: str | None = None
    status: str = "posted"
    status_ms: int | None = None  # None: created_ms
    entry_id: int = 0

    def __post_init__(self) -> None:
        _check_member_id("points entry", "member_id", self.member_id)
        what = f"points entry {self.kind!r}/{self.ref!r}"
        _check_brand_id(what, self.brand_id)
        if self.kind not in POINTS_KINDS:
            _fail(what, f"kind must be one of {list(POINTS_KINDS)}, got {self.kind!r}")
        sign = {"earn": 1, "redeem_return": 1, "redeem": -1, "refund_reversal": -1,
                "expire": -1}.get(self.kind, 0)
        d = self.delta
        if type(d) is not int or d == 0 or abs(d) > MAX_POINTS or d * sign < 0:
            need = {1: "positive", -1: "negative", 0: "non-zero"}[sign]
            _fail(what, f"delta must be a {need} integer for kind {self.kind!r}, got {d!r}")
        _check_pattern(what, "ref", self.ref, _REF_RE)
        _check_ms(what, "created_ms", self.created_ms)
        _check_pattern(what, "order_id", self.order_id, _ORDER_RE, optional=True)
        if self.status not in ENTRY_STATUSES:
            _fail(what, f"status must be one of {list(ENTRY_STATUSES)}, got {self.status!r}")
        if self.status_ms is None:
            object.__setattr__(self, "status_ms", self.created_ms)
        _check_ms(what, "status_ms", self.status_ms)
        if type(self.entry_id) is not int or self.entry_id < 0:
            _fail(what, f"entry_id must be a non-negative integer, got {self.entry_id!r}")


@dataclass(frozen=True, slots=True)
class StoredValueEntry:
    """One stored-value (prepaid fen) ledger entry (`entry_id` 0 before it is stored)."""

    member_id: str
    delta: int
    kind: str
    ref: str
    created_ms: int
    entry_id: int = 0

    def __post_init__(self) -> None:
        _check_member_id("stored value entry", "member_id", self.member_id)
        what = f"stored value entry {self.kind!r}/{self.ref!r}"
        if self.kind not in STORED_VALUE_KINDS:
            _fail(what, f"kind must be one of {list(STORED_VALUE_KINDS)}, got {self.kind!r}")
        sign = {"topup": 1, "refund": 1, "payment": -1}.get(self.kind, 0)
        d = self.delta
        if type(d) is not int or d == 0 or abs(d) > MAX_POINTS or d * sign < 0:
            _fail(what, f"delta {d!r} has the wrong sign or size for kind {self.kind!r}")
        _check_pattern(what, "ref", self.ref, _REF_RE)
        _check_ms(what, "created_ms", self.created_ms)


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    """A member's purchase at a brand (RFM input); `refunded_fen` grows with refunds."""

    brand_id: str
    order_id: str
    member_id: str
    amount_fen: int
    paid_ms: int
    source: str = "order"
    store_id: str | None = None
    refunded_fen: int = 0

    def __post_init__(self) -> None:
        what = f"purchase {self.order_id!r}"
        _check_brand_id(what, self.brand_id)
        _check_pattern(what, "order_id", self.order_id, _ORDER_RE)
        _check_member_id(what, "member_id", self.member_id)
        _check_amount(what, "amount_fen", self.amount_fen)
        _check_ms(what, "paid_ms", self.paid_ms)
        if self.source not in ("order", "receipt"):
            _fail(what, f"source must be 'order' or 'receipt', got {self.source!r}")
        if self.store_id is not None:
            _check_store_id(what, self.store_id)
        _check_amount(what, "refunded_fen", self.refunded_fen)
        if self.refunded_fen > self.amount_fen:
            _fail(what, "refunded_fen cannot exceed amount_fen")


@dataclass(frozen=True, slots=True)
class RfmRow:
    """RFM inputs of one member at one brand over a window (spend net of refunds)."""

    member_id: str
    last_purchase_ms: int
    purchases: int
    spend_fen: int
