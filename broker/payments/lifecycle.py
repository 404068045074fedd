"""How a payment attempt moves, from what the provider said (pure, no I/O, no clock reads).

Rules (WeChat Pay's guidance, which Alipay's matches; see FIELD-NOTES "Payments"):

- Payment code (`code`) and wallet agreement (`face_agreement`): a USERPAYING answer is polled
  every `poll_s` until `code_deadline_s` after creation. At the deadline, or when the outcome
  stays unknown, the attempt is *reversed* (which also refunds it if it did go through) — but
  never sooner than `reverse_not_before_s` after creation (WeChat refuses earlier reversals).
- Dynamic QR (`native`): waits for the notification, querying every `native_poll_s` in case it
  is late; when the screen times out (`expires_ms`) the order is *closed* at the provider so
  that a late scan cannot pay it. A close answered ORDERPAID means it was paid: query.
- An unknown outcome (HTTP 500, SYSTEM_ERROR, timeout) is never resolved by sending the request
  again: the attempt keeps `unknown` set and is queried until the provider answers.
- A query that finds no trade for an attempt whose creation had an unknown outcome means the
  request never arrived; the trade is closed (native) or reversed (code) anyway, so that a
  request still in flight cannot create it later.
- Before a close or reverse is sent, the attempt is moved to `closing` (compare-and-set), so
  that a query or notice handled elsewhere meanwhile cannot book as paid a payment code trade
  that the reversal is about to refund: a SUCCESS seen while `closing` a payment code attempt
  sends the reversal again (it is idempotent) until the provider says REVOKED. A QR order
  cannot be closed once paid (ORDERPAID), so SUCCESS while closing a QR attempt is paid.
- `paid`, `failed`, `closed`, `reversed` are final: nothing moves an attempt out of them,
  except that a provider saying SUCCESS about a closed/failed attempt is queried once more
  (`recheck`) and then believed: money that moved must be seen (and refunded if the order was
  paid another way).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from broker.payments.provider import Trade, TradeState

FINAL_ATTEMPT_STATES = frozenset({"paid", "failed", "closed", "reversed"})
LIVE_ATTEMPT_STATES = frozenset({"pending", "waiting", "closing"})


@dataclass(frozen=True, slots=True)
class Timings:
    poll_s: float = 3.0  # payment code: query interval while USERPAYING
    code_deadline_s: float = 45.0  # payment code: give up (reverse) after this
    reverse_not_before_s: float = 15.0  # WeChat: no reversal sooner after creation
    native_poll_s: float = 10.0  # QR: query interval while waiting for the notification
    unknown_query_s: float = 2.0  # first query after an unknown outcome (then backs off)
    max_backoff_s: float = 30.0
    close_grace_s: float = 0.0  # QR: close this long after the screen timed out


class Action(StrEnum):
    QUERY = "query"
    CLOSE = "close"
    REVERSE = "reverse"


@dataclass(frozen=True, slots=True)
class AttemptView:
    """The part of an attempt the rules look at."""

    method: str  # native | code | face_agreement | face_balance
    state: str  # pending | waiting | closing | paid | failed | closed | reversed
    unknown: bool
    created_ms: int
    expires_ms: int
    checks: int = 0
    next_check_ms: int | None = None
    error: str | None = None
    transaction_id: str | None = None
    payer: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_ATTEMPT_STATES


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _backoff_ms(checks: int, t: Timings) -> int:
    return min(_ms(t.unknown_query_s) * (2 ** min(checks, 10)), _ms(t.max_backoff_s))


def deadline_ms(a: AttemptView, t: Timings) -> int:
    """When the attempt is given up: QR screen timeout (+grace) or payment-code deadline."""
    if a.method == "native":
        return a.expires_ms + _ms(t.close_grace_s)
    return min(a.expires_ms, a.created_ms + _ms(t.code_deadline_s))


def due_action(a: AttemptView, now_ms: int, t: Timings) -> Action | None:
    """What to do for a live attempt whose check is due (None: nothing yet)."""
    if a.final:
        return None
    if a.next_check_ms is not None and now_ms < a.next_check_ms:
        return None
    if a.state == "closing" or now_ms >= deadline_ms(a, t):
        if a.method == "native":
            return Action.CLOSE
        if now_ms >= a.created_ms + _ms(t.reverse_not_before_s):
            return Action.REVERSE
    return Action.QUERY


def _waiting_next(a: AttemptView, now_ms: int, t: Timings) -> int:
    """Next check of a waiting attempt: the poll interval, but not past the deadline; after
    the deadline at once (or as soon as a reversal is allowed)."""
    dl = deadline_ms(a, t)
    if now_ms < dl:
        return min(now_ms + _ms(t.native_poll_s if a.method == "native" else t.poll_s), dl)
    if a.method == "native":
        return now_ms
    return max(now_ms, a.created_ms + _ms(t.reverse_not_before_s))


def observed(a: AttemptView, trade: Trade, now_ms: int, t: Timings) -> AttemptView:
    """Apply what the provider says the trade's state is (create answer, query, notice)."""
    common = {"unknown": False, "checks": a.checks + 1,
              "transaction_id": trade.transaction_id or a.transaction_id,
              "payer": trade.payer or a.payer}
    if a.state == "closing" and a.method != "native" and trade.state.paid:
        # our reversal may still land and refund it: reverse again until REVOKED
        return replace(a, next_check_ms=max(now_ms, a.created_ms + _ms(t.reverse_not_before_s)),
                       **common)
    if trade.state.paid:
        return replace(a, state="paid", next_check_ms=None, error=None, **common)
    if a.final:
        return a  # a final attempt stays final (paid news is handled above)
    if trade.state is TradeState.PAYERROR:
        return replace(a, state="failed", next_check_ms=None,
                       error=trade.state_desc or "PAYERROR", **common)
    if trade.state is TradeState.CLOSED:
        return replace(a, state="closed", next_check_ms=None, **common)
    if trade.state is TradeState.REVOKED:
        return replace(a, state="reversed", next_check_ms=None, **common)
    if a.state == "closing":  # not paid, not closed yet: close / reverse again
        return replace(a, next_check_ms=now_ms + _backoff_ms(a.checks, t), **common)
    waiting = replace(a, state="waiting", **common)
    return replace(waiting, next_check_ms=_waiting_next(waiting, now_ms, t))


def created_native(a: AttemptView, now_ms: int, t: Timings) -> AttemptView:
    """The provider accepted a QR order: wait for the scan."""
    w = replace(a, state="waiting", unknown=False)
    return replace(w, next_check_ms=_waiting_next(w, now_ms, t))


def refused(a: AttemptView, code: str) -> AttemptView:
    """A definite refusal of the create request: nothing was charged."""
    if a.final:
        return a
    return replace(a, state="failed", unknown=False, next_check_ms=None, error=code)


def unknown(a: AttemptView, now_ms: int, t: Timings) -> AttemptView:
    """A call whose outcome is unknown (create, query, close or reverse): check again later."""
    if a.final:
        return a
    nxt = now_ms + _backoff_ms(a.checks, t)
    return replace(a, unknown=a.unknown or a.state == "pending", checks=a.checks + 1,
                   next_check_ms=nxt)


def not_found(a: AttemptView, now_ms: int, t: Timings) -> AttemptView:
    """The provider has no such trade. Only possible before creation was confirmed; the
    close/reverse that follows stops a request still in flight from creating it later."""
    if a.final:
        return a
    target = a.created_ms + _ms(t.reverse_not_before_s) if a.method != "native" else now_ms
    # due at once (native: close) or once reversal is allowed (code: reverse)
    return replace(a, unknown=True, checks=a.checks + 1, expires_ms=min(a.expires_ms, now_ms),
                   next_check_ms=max(now_ms, target))


def closing(a: AttemptView) -> AttemptView:
    """About to ask the provider to close / reverse it (written before the request)."""
    if a.final:
        return a
    return replace(a, state="closing")


def closed(a: AttemptView) -> AttemptView:
    """Close or reverse succeeded at the provider."""
    if a.final:
        return a
    return replace(a, state="closed" if a.method == "native" else "reversed", unknown=False,
                   next_check_ms=None)


def needs_query_after(a: AttemptView, now_ms: int) -> AttemptView:
    """Close answered ORDERPAID (or similar): query at once to learn it was paid."""
    if a.final:
        return a
    return replace(a, state="waiting" if a.method == "native" else a.state,
                   next_check_ms=now_ms, expires_ms=max(a.expires_ms, now_ms + 60_000))
