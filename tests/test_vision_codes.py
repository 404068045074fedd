"""What the terminal accepts from the camera: payment codes and platform tokens, nothing else."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from broker.loyalty import coupon_codes, receipt_token
from broker.payments.order_input import PayParams
from kiosk.vision.codes import MAX_TEXT, Code, Kind, Reason, Refused, classify

DIGITS = "0123456789"
relaxed = settings(deadline=None)
wechat_codes = st.builds(lambda p, rest: f"{p}{rest}", st.integers(10, 15),
                         st.text(DIGITS, min_size=16, max_size=16))
alipay_codes = st.integers(16, 24).flatmap(
    lambda n: st.builds(lambda p, rest: f"{p}{rest}", st.integers(25, 30),
                        st.text(DIGITS, min_size=n - 2, max_size=n - 2)))
payment_codes = st.one_of(wechat_codes, alipay_codes)
coupons = st.binary(min_size=11, max_size=11).map(lambda b: coupon_codes.new_code(lambda n: b))
LOOKALIKE_ZEROS = [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x1D7CE]  # fullwidth, Arabic, ...
CONTROLS = ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u200b", "\u202e", "\ufeff"]


def reason_of(text: object) -> Reason | None:
    result = classify(text)
    return result.reason if isinstance(result, Refused) else None


def controller_accepts(auth_code: str) -> bool:
    try:
        PayParams(order_id="oabcdefghijkl", method="code", auth_code=auth_code)
    except ValidationError:
        return False
    return True


@relaxed
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "surrogateescape"))))
def test_any_text_is_either_a_code_or_a_refusal_with_a_printable_reason(text: str) -> None:
    result = classify(text)
    assert isinstance(result, Code | Refused)
    if isinstance(result, Refused):
        assert result.detail.isascii() and result.detail.isprintable()
        assert len(result.detail) <= 100
    else:
        assert classify(result.value) == result  # the canonical value reads the same again


@relaxed
@given(st.text(DIGITS + "a-. \n", max_size=30))
def test_the_terminal_never_forwards_a_payment_code_the_controller_refuses(text: str) -> None:
    result = classify(text)
    if isinstance(result, Code) and result.is_payment:
        assert controller_accepts(result.value)


@relaxed
@given(wechat_codes)
def test_wechat_payment_codes_are_recognised(text: str) -> None:
    assert classify(text) == Code(Kind.WECHAT_PAY, text)


@relaxed
@given(alipay_codes)
def test_alipay_payment_codes_are_recognised(text: str) -> None:
    assert classify(text) == Code(Kind.ALIPAY, text)


@relaxed
@given(st.integers(10, 15), st.integers(16, 24).filter(lambda n: n != 18), st.data())
def test_a_wechat_prefix_with_the_wrong_length_is_refused(prefix: int, size: int,
                                                          data: st.DataObject) -> None:
    text = str(prefix) + data.draw(st.text(DIGITS, min_size=size - 2, max_size=size - 2))
    assert reason_of(text) is Reason.WRONG_LENGTH


@relaxed
@given(st.text(DIGITS, min_size=1, max_size=40).filter(lambda t: not 16 <= len(t) <= 24))
def test_digit_strings_outside_16_to_24_digits_are_not_payment_codes(text: str) -> None:
    result = classify(text)
    assert not (isinstance(result, Code) and result.is_payment)


@relaxed
@given(payment_codes, st.data())
def test_non_ascii_lookalike_digits_are_refused_as_such(code: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(code) - 1))
    zero = data.draw(st.sampled_from(LOOKALIKE_ZEROS))
    forged = code[:at] + chr(zero + int(code[at])) + code[at + 1:]
    assert reason_of(forged) is Reason.LOOKALIKE_DIGITS


@relaxed
@given(payment_codes, st.sampled_from(CONTROLS), st.data())
def test_control_characters_anywhere_are_refused(code: str, control: str,
                                                 data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(code)))
    assert reason_of(code[:at] + control + code[at:]) is Reason.CONTROL_CHARACTERS


def test_a_trailing_newline_is_not_quietly_accepted() -> None:
    # A `$`-anchored Python regex would let this through; the controller refuses it.
    assert reason_of("134567890123456789\n") is Reason.CONTROL_CHARACTERS
    assert not controller_accepts("134567890123456789\n")


@relaxed
@given(st.text(min_size=MAX_TEXT + 1, max_size=3 * MAX_TEXT))
def test_overlong_text_is_refused_before_anything_else(text: str) -> None:
    assert reason_of(text) is Reason.TOO_LONG


@pytest.mark.parametrize("text", [
    "weixin://wxpay/bizpayurl?pr=AbCdEf1", "https://pay.example.com/134567890123456789",
    "alipays://platformapi/startapp?appId=20000067", "javascript:alert(1)"])
def test_links_are_refused_as_links(text: str) -> None:
    result = classify(text)
    assert isinstance(result, Refused) and result.reason is Reason.URL
    assert text.split(":")[0] in result.detail


@pytest.mark.parametrize("text", [
    "1' OR '1'='1", "134567890123456789; DROP TABLE orders;--", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "13456789012345678%00", "{{7*7}}", "${jndi:ldap://x/a}"])
def test_sql_and_html_junk_is_refused_with_the_offending_character(text: str) -> None:
    result = classify(text)
    assert isinstance(result, Refused)
    assert result.reason in (Reason.UNEXPECTED_CHARACTERS, Reason.URL)
    assert text not in result.detail  # the payload is not echoed into logs or the screen


@pytest.mark.parametrize("text", ["", " ", "\u3000 "])
def test_empty_content_is_refused(text: str) -> None:
    assert reason_of(text) is Reason.EMPTY


@pytest.mark.parametrize("value", [None, b"134567890123456789", 134567890123456789])
def test_something_that_is_not_text_is_refused_not_raised(value: object) -> None:
    assert reason_of(value) is Reason.NOT_TEXT


def test_other_wallets_codes_are_refused_naming_the_prefix() -> None:
    result = classify("621234567890123456")  # a UnionPay-style code
    assert isinstance(result, Refused) and result.reason is Reason.UNKNOWN_WALLET
    assert "62" in result.detail


@relaxed
@given(coupons)
def test_coupon_codes_are_recognised_in_any_printed_form(code: str) -> None:
    assume(not (code.isdigit() and (10 <= int(code[:2]) <= 15 or 25 <= int(code[:2]) <= 30)))
    assert classify(code) == Code(Kind.COUPON, code)
    assert classify(coupon_codes.display_code(code).lower()) == Code(Kind.COUPON, code)


@relaxed
@given(coupons, st.data())
def test_a_mistyped_coupon_is_refused_by_its_check_character(code: str,
                                                             data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(code) - 1))
    other = data.draw(st.sampled_from(coupon_codes.ALPHABET).filter(lambda c: c != code[at]))
    typo = code[:at] + other + code[at + 1:]
    assume(not typo.isdigit())
    assert reason_of(typo) is Reason.BAD_CHECK_CHARACTER


id_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                  max_size=8)


@relaxed
@given(st.binary(min_size=32, max_size=32), id_text, id_text, st.text(min_size=1, max_size=16),
       st.integers(0, 2**32 - 1))
def test_issued_receipt_tokens_are_recognised_without_any_key(
        seed: bytes, brand: str, store: str, order: str, amount: int) -> None:
    token = receipt_token.issue(
        Ed25519PrivateKey.from_private_bytes(seed), key_id="k9", brand_id=brand,
        store_id=store, order_ref=order, amount_fen=amount, issued_ms=1_750_000_000_000,
        ttl_ms=86_400_000, random_bytes=lambda n: seed[:n])
    assert classify(token) == Code(Kind.RECEIPT_TOKEN, token)


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@relaxed
@given(st.text(B64URL + ".", max_size=300))
def test_receipt_shaped_junk_is_refused_as_a_malformed_receipt(tail: str) -> None:
    assert reason_of(receipt_token.PREFIX + tail) is Reason.MALFORMED_RECEIPT


@relaxed
@given(st.binary(min_size=32, max_size=32), st.data())
def test_a_cut_short_receipt_token_is_refused_as_malformed(seed: bytes,
                                                           data: st.DataObject) -> None:
    token = receipt_token.issue(
        Ed25519PrivateKey.from_private_bytes(seed), key_id="k1", brand_id="freshmart",
        store_id="sh-01", order_ref="A" * 26, amount_fen=1999, issued_ms=1_750_000_000_000,
        ttl_ms=86_400_000, random_bytes=lambda n: seed[:n])
    cut = data.draw(st.integers(len(receipt_token.PREFIX), len(token) - 1))
    result = classify(token[:cut])
    assert isinstance(result, Refused) and result.reason is Reason.MALFORMED_RECEIPT
