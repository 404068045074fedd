"""What a decoded code is: a validated payment code or platform token, or a refusal (pure).

The camera reads whatever a shopper holds up, so decoded text is hostile until proven
otherwise. `classify` never raises: it returns a `Code` (kind + canonical value) or a
`Refused` (a reason from `Reason`, plus an ASCII detail that is safe to log and never echoes
more than a few escaped characters of the input).

Kinds, checked in this order:

* WeChat Pay payment code: 18 ASCII digits starting 10-15.
* Alipay payment code: 16-24 ASCII digits starting 25-30.
  Both stay inside the controller's `auth_code` rule (`broker.payments.order_input`: 16-24
  ASCII digits), so the terminal never forwards a code the controller would refuse; other
  16-24 digit codes (UnionPay, foreign wallets) are refused here as `unknown_wallet`.
* Receipt token (`broker.loyalty.receipt_token`): the full structure is checked here; the
  signature and expiry are the controller's job when the receipt is claimed. This calls the
  module's own `verify` with no keys: it raises `unknown_key` only after every structural
  check has passed, so nothing of its format is re-implemented here.
* Coupon code (`broker.loyalty.coupon_codes.parse_code`, check character included). A coupon
  that is all digits and also looks like a wallet code (about one in 10^10) is read as the
  payment code.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from broker.loyalty import coupon_codes, receipt_token

MAX_TEXT = receipt_token.MAX_TOKEN_CHARS  # the longest thing worth reading (a receipt token)
_ALLOWED = re.compile(r"[0-9A-Za-z._\- ]+")  # every character any valid kind can contain
_DIGITS = re.compile(r"[0-9]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")


class Kind(StrEnum):
    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    RECEIPT_TOKEN = "receipt_token"
    COUPON = "coupon"


PAYMENT_KINDS = frozenset({Kind.WECHAT_PAY, Kind.ALIPAY})


class Reason(StrEnum):
    NOT_TEXT = "not_text"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    CONTROL_CHARACTERS = "control_characters"
    LOOKALIKE_DIGITS = "lookalike_digits"
    NON_ASCII = "non_ascii"
    URL = "url"
    UNEXPECTED_CHARACTERS = "unexpected_characters"
    WRONG_LENGTH = "wrong_length"
    UNKNOWN_WALLET = "unknown_wallet"
    MALFORMED_RECEIPT = "malformed_receipt"
    BAD_CHECK_CHARACTER = "bad_check_character"
    UNRECOGNISED = "unrecognised"


@dataclass(frozen=True, slots=True)
class Code:
    """A well-formed code: its kind and canonical text (what the controller is sent)."""

    kind: Kind
    value: str

    @property
    def is_payment(self) -> bool:
        return self.kind in PAYMENT_KINDS


@dataclass(frozen=True, slots=True)
class Refused:
    """Text that is not a code the terminal accepts, and why (`detail` is ASCII, short)."""

    reason: Reason
    detail: str


def _snippet(char: str) -> str:
    return ascii(char)[1:-1]


def _character_problem(text: str) -> Refused | None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return Refused(Reason.CONTROL_CHARACTERS, f"control character {_snippet(char)}")
    for char in text:
        if not char.isascii() and char.isdigit():
            return Refused(Reason.LOOKALIKE_DIGITS,
                           f"non-ASCII digit {_snippet(char)} (a look-alike of an ASCII digit)")
    for char in text:
        if not char.isascii():
            return Refused(Reason.NON_ASCII, f"non-ASCII character {_snippet(char)}")
    if match := _URL.match(text):
        return Refused(Reason.URL, f"a link ({match.group(0)}), not a code for this terminal")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        return Refused(Reason.UNEXPECTED_CHARACTERS, f"unexpected character {_snippet(bad)}")
    return None


def _payment(digits: str) -> Code | Refused:
    prefix, size = int(digits[:2]), len(digits)
    if not 16 <= size <= 24:
        return Refused(Reason.WRONG_LENGTH, f"{size} digits; payment codes have 16-24")
    if 10 <= prefix <= 15:
        if size == 18:
            return Code(Kind.WECHAT_PAY, digits)
        return Refused(Reason.WRONG_LENGTH, f"{size} digits; WeChat payment codes have 18")
    if 25 <= prefix <= 30:
        return Code(Kind.ALIPAY, digits)
    return Refused(Reason.UNKNOWN_WALLET, f"payment-code prefix {digits[:2]} is not accepted")


def _receipt(text: str) -> Code | Refused:
    try:
        receipt_token.verify(text, {}, 0)
    except receipt_token.ReceiptTokenError as exc:
        if exc.reason == "unknown_key":  # every structural check passed (see module doc)
            return Code(Kind.RECEIPT_TOKEN, text)
        return Refused(Reason.MALFORMED_RECEIPT, ascii(str(exc))[1:-1][:80])
    return Refused(Reason.MALFORMED_RECEIPT, "verified without a key")  # cannot happen


def _coupon(text: str) -> Code | Refused | None:
    """The coupon in `text`; a refusal when it is shaped like one but fails its check.

    `parse_code` tells the failed check apart only by its message, so that is what is read.
    """
    try:
        return Code(Kind.COUPON, coupon_codes.parse_code(text))
    except coupon_codes.CouponCodeError as exc:
        if "check character" in str(exc):
            return Refused(Reason.BAD_CHECK_CHARACTER, "coupon-shaped, check character wrong")
        return None


def classify(text: object) -> Code | Refused:
    """What `text` (a decoder's output) is; never raises."""
    if not isinstance(text, str):
        return Refused(Reason.NOT_TEXT, f"got {ascii(type(text).__name__)[1:-1][:40]}")
    if len(text) > MAX_TEXT:  # before any other work
        return Refused(Reason.TOO_LONG, f"{len(text)} characters, at most {MAX_TEXT}")
    if not text.strip():
        return Refused(Reason.EMPTY, "no content" if not text else "only whitespace")
    if problem := _character_problem(text):
        return problem
    if _DIGITS.fullmatch(text):
        payment = _payment(text)
        if isinstance(payment, Code) or payment.reason is not Reason.UNKNOWN_WALLET:
            return payment
        coupon = _coupon(text)
        return coupon if isinstance(coupon, Code) else payment
    if text.startswith(receipt_token.PREFIX):
        return _receipt(text)
    return _coupon(text) or Refused(Reason.UNRECOGNISED, "not a payment code or platform code")
