"""Receipt QR tokens: signed, expiring, compact, and refusing every alteration."""

from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.receipt_token import (
    MAX_TOKEN_CHARS,
    ReceiptTokenError,
    issue,
    verify,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {"k1": KEY.public_key()}
T0 = 1_750_000_000_000
DAY = 86_400_000
# byte-mode capacities at error correction M (ISO/IEC 18004 table 7)
QR_M_BYTES = {9: 180, 10: 213, 13: 331}


ORDER = "o-01HZX3K4M5N6P7Q8R9S0T1V2"


def make(key: Ed25519PrivateKey = KEY, key_id: str = "k1", order: str = ORDER,
         amount: int = 12_345, seed: int = 1) -> str:
    return issue(key, key_id=key_id, brand_id="freshmart", store_id="sh-01", order_ref=order,
                 amount_fen=amount, issued_ms=T0, ttl_ms=30 * DAY,
                 random_bytes=random.Random(seed).randbytes)


TOKEN = make()


def reason(text: str, now: int = T0 + 1, keys: dict = KEYS) -> str:  # type: ignore[type-arg]
    with pytest.raises(ReceiptTokenError) as err:
        verify(text, keys, now)
    return err.value.reason


def test_round_trip() -> None:
    claim = verify(TOKEN, KEYS, T0 + DAY)
    assert (claim.brand_id, claim.store_id, claim.order_ref) == \
        ("freshmart", "sh-01", "o-01HZX3K4M5N6P7Q8R9S0T1V2")
    assert (claim.amount_fen, claim.issued_ms, claim.expires_ms) == (12_345, T0, T0 + 30 * DAY)
    assert claim.key_id == "k1" and len(claim.token_id) == 24
    assert TOKEN.startswith("R1.") and TOKEN.count(".") == 2
    assert make(seed=2) != TOKEN and verify(make(seed=2), KEYS, T0).token_id != claim.token_id


def test_fits_a_small_qr_code() -> None:
    assert len(TOKEN) == 189 <= QR_M_BYTES[10]
    assert len(make(order="o-1234567890123456")) <= QR_M_BYTES[9]
    longest = issue(KEY, key_id="k" * 16, brand_id="b" * 32, store_id="s" * 32,
                    order_ref="o" * 64, amount_fen=2**32 - 1, issued_ms=T0, ttl_ms=DAY,
                    random_bytes=random.Random(0).randbytes)
    assert len(longest) == 325 <= QR_M_BYTES[13] < MAX_TOKEN_CHARS
    with pytest.raises(ValueError):
        make(order="o" * 65)
    with pytest.raises(ValueError):
        make(amount=2**32)


def test_validity_window() -> None:
    assert reason(TOKEN, now=T0 + 30 * DAY) == "expired"
    verify(TOKEN, KEYS, T0 + 30 * DAY - 1)
    verify(TOKEN, KEYS, T0 - 120_000)  # the till's clock may run a little ahead
    assert reason(TOKEN, now=T0 - 120_001) == "not_yet_valid"


def test_keys_rotate_by_id() -> None:
    new = make(key=OTHER, key_id="k2")
    assert reason(new) == "unknown_key"
    both = {**KEYS, "k2": OTHER.public_key()}
    assert verify(new, both, T0).key_id == "k2"
    assert verify(TOKEN, both, T0).key_id == "k1"
    forged = make(key=OTHER, key_id="k1")
    assert reason(forged) == "bad_signature"


def test_malformed_texts() -> None:
    prefix, payload, sig = TOKEN.split(".")
    for text in ["", "R1..", "R2" + TOKEN[2:], TOKEN + ".", TOKEN + "=", f"{prefix}.{payload}",
                 f"{prefix}.{payload}==.{sig}", f"{prefix}.{payload}.{sig}A",
                 f"{prefix}.{payload}.{sig[:-1]}", f"{prefix}.{sig}.{sig}",
                 f"{prefix}.{payload[:-2]}.{sig}", f"{prefix}.{payload}.{sig}\n",
                 TOKEN + "A" * (MAX_TOKEN_CHARS - len(TOKEN) + 1)]:
        assert reason(text) == "malformed", text
    # the same bytes spelled with different unused low bits are refused too
    last = sig[-1]
    alias = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alias[alias.index(last) ^ 1]
    assert reason(f"{prefix}.{payload}.{sig[:-1]}{sibling}") == "malformed"


def test_refuses_long_text_before_decoding() -> None:
    with pytest.raises(ReceiptTokenError, match="too long"):
        verify("R1." + "A" * 600 + "." + "A" * 86, KEYS, T0)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(TOKEN) - 1), st.sampled_from(ALPHABET), st.sampled_from(
    ["replace", "insert", "delete", "swap"]))
def test_any_mutation_is_refused(position: int, char: str, how: str) -> None:
    chars = list(TOKEN)
    if how == "replace":
        chars[position] = char
    elif how == "insert":
        chars.insert(position, char)
    elif how == "delete":
        del chars[position]
    else:
        j = min(position + 1, len(chars) - 1)
        chars[position], chars[j] = chars[j], chars[position]
    mutated = "".join(chars)
    if mutated == TOKEN:
        return
    with pytest.raises(ReceiptTokenError):
        verify(mutated, KEYS, T0)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=600),
    st.builds(lambda a, b: f"R1.{a}.{b}", st.text(B64, max_size=300),
              st.text(B64, min_size=86, max_size=86)),
    st.builds(lambda a, b: f"R1.{_b64(a)}.{_b64(b)}", st.binary(max_size=200),
              st.binary(min_size=64, max_size=64))))
def test_arbitrary_text_raises_only_receipt_token_error(text: str) -> None:
    with pytest.raises(ReceiptTokenError):
        verify(text, KEYS, T0)


text_field = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(text_field, text_field, text_field, st.integers(0, 2**32 - 1),
       st.integers(0, 2**47), st.integers(1, 10**10), st.binary(min_size=12, max_size=12))
def test_any_valid_claim_round_trips(brand: str, store: str, order: str, amount: int,
                                     issued: int, ttl: int, token_id: bytes) -> None:
    text = issue(KEY, key_id="k1", brand_id=brand, store_id=store, order_ref=order,
                 amount_fen=amount, issued_ms=issued, ttl_ms=ttl, random_bytes=lambda n: token_id)
    assert len(text) <= MAX_TOKEN_CHARS
    claim = verify(text, KEYS, issued)
    assert (claim.brand_id, claim.store_id, claim.order_ref, claim.amount_fen) == \
        (brand, store, order, amount)
    assert (claim.issued_ms, claim.expires_ms, claim.token_id) == \
        (issued, issued + ttl, token_id.hex())
