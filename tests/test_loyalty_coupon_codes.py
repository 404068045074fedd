"""Coupon codes: unguessable, typo-checked, forgiving to people and hostile-input safe."""

from __future__ import annotations

import random
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.loyalty.coupon_codes import (
    ALPHABET,
    CODE_CHARS,
    CouponCodeError,
    display_code,
    new_code,
    parse_code,
)


def test_new_code_is_canonical_and_uses_all_the_random_bits() -> None:
    code = new_code(secrets.token_bytes)
    assert len(code) == CODE_CHARS == 18
    assert set(code) <= set(ALPHABET)
    assert parse_code(code) == code
    assert new_code(lambda n: bytes(n))[:17] == "0" * 17
    assert new_code(lambda n: b"\xff" * n)[:17] == "Z" * 17
    # the last random bit changes the code
    assert new_code(lambda n: bytes(10) + b"\x08") != new_code(lambda n: bytes(11))
    with pytest.raises(ValueError):
        new_code(lambda n: b"short")


def test_codes_do_not_repeat() -> None:
    rng = random.Random(7)
    codes = {new_code(rng.randbytes) for _ in range(20_000)}
    assert len(codes) == 20_000


def test_people_friendly_input_is_accepted() -> None:
    code = new_code(secrets.token_bytes)
    shown = display_code(code)
    assert shown.count("-") == 2 and shown.replace("-", "") == code
    assert parse_code(f"  {shown.lower()} ") == code
    zeros = new_code(lambda n: bytes(n))
    assert parse_code(zeros.replace("0", "o")) == zeros
    ones = new_code(lambda n: bytes([0b00001000, 0b01000010] * 5 + [0]))
    assert "1" in ones
    assert parse_code(ones.replace("1", "l")) == ones == parse_code(ones.replace("1", "I"))


def test_hostile_input_is_refused_cheaply() -> None:
    code = new_code(secrets.token_bytes)
    for text in ["", code[:-1], code + "0", "-" * 65, code + " " * 47, "Ü" * 18,
                 code[:-1] + "U", code.replace(code[0], "\x00", 1), "\u0661" * 18]:
        with pytest.raises(CouponCodeError):
            parse_code(text)


@given(st.text(max_size=100))
def test_arbitrary_text_only_raises_coupon_code_error(text: str) -> None:
    try:
        got = parse_code(text)
    except CouponCodeError:
        return
    assert len(got) == CODE_CHARS and parse_code(got) == got


codes = st.binary(min_size=11, max_size=11).map(lambda b: new_code(lambda n: b))


@settings(max_examples=300)
@given(codes, st.integers(0, CODE_CHARS - 1), st.sampled_from(ALPHABET))
def test_every_single_typo_is_caught(code: str, position: int, char: str) -> None:
    if code[position] == char:
        return
    typo = code[:position] + char + code[position + 1:]
    with pytest.raises(CouponCodeError):
        parse_code(typo)


@settings(max_examples=300)
@given(codes, st.integers(0, CODE_CHARS - 2))
def test_swapped_neighbours_are_caught(code: str, position: int) -> None:
    a, b = code[position], code[position + 1]
    if a == b or {a, b} == {"0", "Z"}:  # the one pair Luhn mod 32 cannot see
        return
    swapped = code[:position] + b + a + code[position + 2:]
    with pytest.raises(CouponCodeError):
        parse_code(swapped)
