"""The attempt rules (pure): polling, deadlines, reversal timing, unknown outcomes."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.payments import lifecycle as lc
from broker.payments.provider import Trade, TradeState

T = lc.Timings()
T0 = 1_700_000_000_000


def attempt(method: str = "code", **kw: object) -> lc.AttemptView:
    expires = T0 + (120_000 if method == "native" else 45_000)
    base = lc.AttemptView(method=method, state="pending", unknown=False, created_ms=T0,
                          expires_ms=expires, next_check_ms=T0 + 2_000)
    return replace(base, **kw)  # type: ignore[arg-type]


def trade(state: TradeState) -> Trade:
    return Trade("o-1", state, 100, transaction_id="tx" if state.paid else None)


def test_payment_code_userpaying_is_polled_then_reversed_at_the_deadline() -> None:
    a = lc.observed(attempt(), trade(TradeState.USERPAYING), T0 + 500, T)
    assert a.state == "waiting" and a.next_check_ms == T0 + 3_500
    assert lc.due_action(a, T0 + 3_000, T) is None  # not due yet
    assert lc.due_action(a, T0 + 3_500, T) is lc.Action.QUERY
    late = lc.observed(a, trade(TradeState.USERPAYING), T0 + 44_000, T)
    assert late.next_check_ms == T0 + 45_000  # the poll does not overshoot the deadline
    assert lc.due_action(late, T0 + 45_000, T) is lc.Action.REVERSE


def test_unknown_outcome_is_queried_and_never_reversed_before_15_seconds() -> None:
    a = lc.unknown(attempt(), T0 + 100, T)
    assert a.unknown and a.state == "pending" and a.next_check_ms == T0 + 2_100
    assert lc.due_action(a, T0 + 2_100, T) is lc.Action.QUERY
    # the provider has no such trade: reverse it anyway (a request in flight must not land),
    # but only once WeChat allows a reversal
    nf = lc.not_found(a, T0 + 2_200, T)
    assert nf.next_check_ms == T0 + 15_000
    assert lc.due_action(nf, T0 + 14_999, T) is None
    assert lc.due_action(nf, T0 + 15_000, T) is lc.Action.REVERSE
    assert lc.closed(nf).state == "reversed"


def test_native_qr_waits_for_the_notice_and_closes_when_the_screen_times_out() -> None:
    a = lc.created_native(attempt("native"), T0 + 200, T)
    assert a.state == "waiting" and a.next_check_ms == T0 + 10_200
    assert lc.due_action(a, T0 + 10_200, T) is lc.Action.QUERY
    assert lc.due_action(replace(a, next_check_ms=T0 + 120_000), T0 + 120_000, T) is (
        lc.Action.CLOSE)
    assert lc.closed(a).state == "closed"
    paid = lc.observed(a, trade(TradeState.SUCCESS), T0 + 30_000, T)
    assert paid.state == "paid" and paid.next_check_ms is None and paid.transaction_id == "tx"


def test_close_refused_as_paid_leads_to_a_query_not_a_second_close() -> None:
    a = lc.created_native(attempt("native"), T0, T)
    after = lc.needs_query_after(a, T0 + 121_000)
    assert lc.due_action(after, T0 + 121_000, T) is lc.Action.QUERY


def test_definite_failures_end_the_attempt() -> None:
    assert lc.observed(attempt(), trade(TradeState.PAYERROR), T0, T).state == "failed"
    assert lc.refused(attempt(), "AUTHCODEEXPIRE").error == "AUTHCODEEXPIRE"
    assert lc.observed(attempt(), trade(TradeState.REVOKED), T0, T).state == "reversed"
    assert lc.observed(attempt("native"), trade(TradeState.CLOSED), T0, T).state == "closed"


def test_a_paid_notice_about_a_closed_attempt_is_believed() -> None:
    closed = lc.closed(lc.created_native(attempt("native"), T0, T))
    assert lc.observed(closed, trade(TradeState.SUCCESS), T0 + 5, T).state == "paid"
    assert lc.observed(closed, trade(TradeState.NOTPAY), T0 + 5, T).state == "closed"


# ---- random histories ------------------------------------------------------------------------

steps = st.one_of(
    st.tuples(st.just("observe"), st.sampled_from(list(TradeState)), st.integers(0, 20_000)),
    st.tuples(st.just("unknown"), st.none(), st.integers(0, 20_000)),
    st.tuples(st.just("not_found"), st.none(), st.integers(0, 20_000)),
    st.tuples(st.just("closed"), st.none(), st.integers(0, 20_000)),
    st.tuples(st.just("refused"), st.none(), st.integers(0, 20_000)),
    st.tuples(st.just("closing"), st.none(), st.integers(0, 20_000)),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["native", "code", "face_agreement"]), st.lists(steps, max_size=30))
def test_random_histories_keep_the_invariants(method: str, history: list) -> None:  # type: ignore[type-arg]
    a = attempt(method)
    now = T0
    was_paid = False
    for kind, state, dt in history:
        now += dt
        was_closing_before = a.state == "closing"
        action = lc.due_action(a, now, T)
        if action is lc.Action.REVERSE:
            assert now >= a.created_ms + 15_000, "reversal sooner than WeChat allows"
        if kind == "observe":
            a = lc.observed(a, trade(state), now, T)
        elif kind == "unknown":
            a = lc.unknown(a, now, T)
        elif kind == "not_found":
            a = lc.not_found(a, now, T)
        elif kind == "closed":
            a = lc.closed(a)
        elif kind == "closing":
            a = lc.closing(a)
        else:
            a = lc.refused(a, "X")
        was_paid = was_paid or a.state == "paid"
        if was_paid:
            assert a.state == "paid", "a paid attempt left the paid state"
        if kind == "observe" and a.state == "paid" and method != "native":
            assert was_closing_before is False, "paid while a reversal was out"
        if a.final:
            assert a.next_check_ms is None and lc.due_action(a, now, T) is None
        else:
            assert a.next_check_ms is not None, "a live attempt with nothing scheduled"
            assert a.next_check_ms <= now + 30_000 + 15_000


def test_a_reversal_in_flight_is_not_undone_by_a_paid_answer() -> None:
    """Two controllers: one reverses a payment code order at its deadline while the other's
    query sees SUCCESS. The reversal will refund it, so the attempt must not become paid."""
    a = lc.closing(lc.observed(attempt(), trade(TradeState.USERPAYING), T0, T))
    assert a.state == "closing" and not a.final
    seen = lc.observed(a, trade(TradeState.SUCCESS), T0 + 20_000, T)
    assert seen.state == "closing"
    assert lc.due_action(seen, T0 + 20_000, T) is lc.Action.REVERSE  # again, until REVOKED
    assert lc.observed(seen, trade(TradeState.REVOKED), T0 + 21_000, T).state == "reversed"


def test_a_qr_order_paid_while_being_closed_is_paid() -> None:
    a = lc.closing(lc.created_native(attempt("native"), T0, T))
    assert a.next_check_ms is not None
    assert lc.due_action(a, a.next_check_ms, T) is lc.Action.CLOSE
    assert lc.observed(a, trade(TradeState.SUCCESS), T0 + 2, T).state == "paid"
    # close refused as ORDERPAID: back to waiting, queried at once
    back = lc.needs_query_after(a, T0 + 3)
    assert back.state == "waiting" and lc.due_action(back, T0 + 3, T) is lc.Action.QUERY
