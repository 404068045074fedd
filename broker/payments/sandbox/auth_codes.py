"""The sandbox's payment-code (auth_code) scheme: the code itself says how the payment goes.

A WeChat payment code is 18 digits starting with 10–15. The sandbox reads the last two digits:

| last two | behaviour |
|---|---|
| `80` | refused: HTTP 403 `NOTENOUGH` (insufficient balance), the trade is PAYERROR |
| `81` | refused: HTTP 400 `AUTHCODEEXPIRE` (the code expired), the trade is PAYERROR |
| `85` | HTTP 202 `USERPAYING`; the payer cancels after 5 s: PAYERROR |
| `90` | HTTP 202 `USERPAYING` until the payer confirms or declines in the wallet (admin API) |
| `91`–`99` | HTTP 202 `USERPAYING`; SUCCESS after 1–9 s (the last digit) |
| any other | SUCCESS at once |

Every code pays once: using it again answers 400 `AUTH_CODE_INVALID`. USERPAYING trades the
payer never completes are revoked by the provider after 45 s (as WeChat does). A code not issued
to a named sandbox payer is paid from the default sandbox wallet; codes issued to a payer
(admin API) start with `15` and debit that payer (so `NOTENOUGH` also happens for real).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CODE_LENGTH = 18
CODE_PREFIXES = frozenset({"10", "11", "12", "13", "14", "15"})
ISSUED_PREFIX = "15"
USER_CANCEL_AFTER_MS = 5_000


class CodeBehaviour(StrEnum):
    SUCCESS = "success"
    NOTENOUGH = "notenough"
    EXPIRED = "expired"
    USERPAYING_CANCEL = "userpaying_cancel"
    USERPAYING_CONFIRM = "userpaying_confirm"
    USERPAYING_DELAY = "userpaying_delay"


@dataclass(frozen=True, slots=True)
class CodePlan:
    behaviour: CodeBehaviour
    settle_after_ms: int | None = None  # USERPAYING that ends by itself: when

    @property
    def userpaying(self) -> bool:
        return self.behaviour in (CodeBehaviour.USERPAYING_CANCEL,
                                  CodeBehaviour.USERPAYING_CONFIRM,
                                  CodeBehaviour.USERPAYING_DELAY)


def is_payment_code(code: str) -> bool:
    return (len(code) == CODE_LENGTH and code.isascii() and code.isdigit()
            and code[:2] in CODE_PREFIXES)


def classify(code: str) -> CodePlan | None:
    """The plan for a payment code, or None when `code` is not a WeChat payment code."""
    if not is_payment_code(code):
        return None
    tail = code[-2:]
    if tail == "80":
        return CodePlan(CodeBehaviour.NOTENOUGH)
    if tail == "81":
        return CodePlan(CodeBehaviour.EXPIRED)
    if tail == "85":
        return CodePlan(CodeBehaviour.USERPAYING_CANCEL, USER_CANCEL_AFTER_MS)
    if tail == "90":
        return CodePlan(CodeBehaviour.USERPAYING_CONFIRM)
    if tail[0] == "9":
        return CodePlan(CodeBehaviour.USERPAYING_DELAY, int(tail[1]) * 1000)
    return CodePlan(CodeBehaviour.SUCCESS)


def make_code(serial: int, tail: str = "00") -> str:
    """A code issued to a sandbox payer: `15`, a 14-digit serial, the behaviour's two digits."""
    if len(tail) != 2 or not tail.isdigit():
        raise ValueError("tail must be two digits")
    return f"{ISSUED_PREFIX}{serial % 10**14:014d}{tail}"
