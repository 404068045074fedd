"""Loyalty records: validation, phone protection and masking, coupon discounts (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty_fixtures import PHONE_KEY, T0

from broker.storage.loyalty_records import (
    LedgerEntry,
    MemberRecord,
    MembershipRecord,
    StoredValueEntry,
    WalletIdentity,
    last4_matches,
    mask_phone,
    new_member_id,
    phone_hmac,
    protect_phone,
)
from broker.storage.reward_records import CouponRecord, FraudFlag, ReceiptClaim

CRED = "a" * 64


def coupon(**changes: Any) -> CouponRecord:
    values: dict[str, Any] = {"code": "WELCOME-0001", "brand_id": "freshmart", "kind": "welcome",
                              "valid_from_ms": T0, "valid_to_ms": T0 + 10**9, "issued_ms": T0,
                              "amount_off_fen": 500}
    values.update(changes)
    return CouponRecord(**values)


def test_member_ids_are_random_and_valid() -> None:
    ids = {new_member_id() for _ in range(100)}
    assert len(ids) == 100
    for member_id in ids:
        assert MemberRecord(member_id, "Li", T0).member_id == member_id


def test_phone_is_masked_hashed_and_dropped() -> None:
    fields = protect_phone("+8613812345678", PHONE_KEY)
    assert fields.phone_masked == "138****5678"
    assert fields.phone_last4 == "5678"
    assert re.fullmatch(r"[0-9a-f]{64}", fields.phone_hmac)
    assert "13812345678" not in repr(fields)
    # keyed: another key gives another hash; the same key the same hash
    assert phone_hmac("+8613812345678", b"another-key-of-16-bytes") != fields.phone_hmac
    assert phone_hmac("+8613812345678", PHONE_KEY) == fields.phone_hmac
    assert mask_phone("+447911123456") == "+447****3456"
    member = MemberRecord.new("Li", T0, phone=fields)
    assert last4_matches(member, "5678")
    assert not last4_matches(member, "5679")
    assert not last4_matches(MemberRecord.new("Wang", T0), "5678")


@pytest.mark.parametrize("phone", ["13812345678", "+0123456789", "+86 138", "", "+8613812345678x"])
def test_bad_phones_are_refused(phone: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        protect_phone(phone, PHONE_KEY)


def test_short_phone_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        phone_hmac("+8613812345678", b"short")


@pytest.mark.parametrize("birthday", ["02-29", "12-31", "01-01", None])
def test_birthdays_accepted(birthday: str | None) -> None:
    assert MemberRecord(new_member_id(), "Li", T0, birthday=birthday).birthday == birthday


@pytest.mark.parametrize("birthday", ["02-30", "13-01", "00-10", "4-01", "04-31", "0401"])
def test_bad_birthdays_refused(birthday: str) -> None:
    with pytest.raises(ValueError, match="birthday"):
        MemberRecord(new_member_id(), "Li", T0, birthday=birthday)


def test_member_phone_fields_go_together() -> None:
    with pytest.raises(ValueError, match="phone"):
        MemberRecord(new_member_id(), "Li", T0, phone_hmac="0" * 64)


@pytest.mark.parametrize(("kind", "delta"), [
    ("earn", -1), ("redeem", 5), ("refund_reversal", 3), ("redeem_return", -2), ("expire", 1),
    ("adjust", 0), ("earn", 0), ("bonus", 5), ("earn", True),
])
def test_ledger_entry_sign_by_kind(kind: str, delta: Any) -> None:
    with pytest.raises(ValueError):
        LedgerEntry("m-00000001", "freshmart", delta, kind, "o-1", T0)


def test_ledger_entry_defaults() -> None:
    entry = LedgerEntry("m-00000001", "freshmart", 10, "earn", "o-1", T0, order_id="o-1")
    assert (entry.status, entry.status_ms, entry.entry_id) == ("posted", T0, 0)
    with pytest.raises(ValueError, match="ref"):
        LedgerEntry("m-00000001", "freshmart", 10, "earn", "has space", T0)
    with pytest.raises(ValueError, match="status"):
        LedgerEntry("m-00000001", "freshmart", 10, "earn", "o-1", T0, status="frozen")


def test_stored_value_entry_and_identity_and_membership() -> None:
    with pytest.raises(ValueError):
        StoredValueEntry("m-00000001", 100, "payment", "t-1", T0)
    with pytest.raises(ValueError):
        StoredValueEntry("m-00000001", -100, "topup", "t-1", T0)
    assert StoredValueEntry("m-00000001", -5, "adjust", "a-1", T0).delta == -5
    with pytest.raises(ValueError, match="provider"):
        WalletIdentity("WeChat", "wx123", "openid")
    with pytest.raises(ValueError, match="payer_id"):
        WalletIdentity("wechat", "wx123", "")
    with pytest.raises(ValueError, match="brand_id"):
        MembershipRecord("m-00000001", "bad brand", T0)


def test_coupon_validation() -> None:
    assert coupon().updated_ms == T0
    with pytest.raises(ValueError, match="valid_to_ms"):
        coupon(valid_to_ms=T0)
    with pytest.raises(ValueError, match="percent"):
        coupon(value_kind="percent", amount_off_fen=None, percent_off=0)
    with pytest.raises(ValueError, match="amount coupon"):
        coupon(percent_off=10)
    with pytest.raises(ValueError, match="redeemed"):
        coupon(state="redeemed")
    with pytest.raises(ValueError, match="kind"):
        coupon(kind="loyalty")


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(0, 10**7), off=st.integers(1, 10**6), pct=st.integers(1, 99),
       cap=st.none() | st.integers(1, 10**5), min_spend=st.integers(0, 10**5))
def test_coupon_discount_bounds(amount: int, off: int, pct: int, cap: int | None,
                                min_spend: int) -> None:
    flat = coupon(amount_off_fen=off, min_spend_fen=min_spend)
    share = coupon(value_kind="percent", amount_off_fen=None, percent_off=pct, max_off_fen=cap,
                   min_spend_fen=min_spend)
    for c in (flat, share):
        d = c.discount_fen(amount)
        assert 0 <= d <= amount
        if amount < min_spend:
            assert d == 0
    if amount >= min_spend:
        assert flat.discount_fen(amount) == min(off, amount)
        expected = amount * pct // 100
        assert share.discount_fen(amount) == (expected if cap is None else min(expected, cap))


def test_receipt_claim_and_fraud_flag_validation() -> None:
    with pytest.raises(ValueError, match="token_id"):
        ReceiptClaim("short", "freshmart", "sh-01", "pos-1", 100, 1, "m-00000001", T0)
    with pytest.raises(ValueError, match="prior_order_id"):
        FraudFlag(CRED, "o-1", "o-1", 10, 100, T0)
    with pytest.raises(ValueError, match="km"):
        FraudFlag(CRED, "o-2", "o-1", float("nan"), 100, T0)
    with pytest.raises(ValueError, match="resolved_ms"):
        FraudFlag(CRED, "o-2", "o-1", 10, 100, T0, status="cleared")
    with pytest.raises(ValueError, match="km"):
        FraudFlag(CRED, "o-2", "o-1", float("inf"), 100, T0)
    assert FraudFlag(CRED, "o-2", "o-1", 10, 100, T0).km == 10.0
    assert FraudFlag(CRED, "o-2", "o-1", 10, float("inf"), T0).kmh == float("inf")
