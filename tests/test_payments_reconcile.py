"""Daily reconciliation (pure)."""

from __future__ import annotations

from broker.payments.provider import BillRow, TradeState
from broker.payments.reconcile import OurTrade, reconcile


def test_agreeing_records_balance() -> None:
    report = reconcile("2026-11-23", [OurTrade("o1-1", "o1", True, 500),
                                      OurTrade("o2-1", "o2", False, 700)],
                       [BillRow("o1-1", "tx1", TradeState.SUCCESS, 500),
                        BillRow("o2-1", "", TradeState.CLOSED, 700)])
    assert report.balanced and report.matched == 1
    assert (report.ours_paid_fen, report.theirs_paid_fen) == (500, 500)


def test_every_kind_of_disagreement_is_reported() -> None:
    ours = [OurTrade("a-1", "a", True, 100), OurTrade("b-1", "b", False, 200),
            OurTrade("c-1", "c", True, 300), OurTrade("d-1", "d", True, 400, refunded_fen=100)]
    theirs = [BillRow("b-1", "tx", TradeState.SUCCESS, 200),
              BillRow("c-1", "tx", TradeState.SUCCESS, 301),
              BillRow("d-1", "tx", TradeState.REFUND, 400, refunded_fen=0),
              BillRow("e-1", "tx", TradeState.SUCCESS, 50)]
    kinds = {(d.kind, d.out_trade_no) for d in reconcile("d", ours, theirs).discrepancies}
    assert kinds == {("missing_at_provider", "a-1"), ("unrecorded_payment", "b-1"),
                     ("amount_mismatch", "c-1"), ("refund_mismatch", "d-1"),
                     ("unrecorded_payment", "e-1")}
