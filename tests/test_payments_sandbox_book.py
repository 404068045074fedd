"""The sandbox's trade book on a frozen clock: WeChat's order states, the payment-code scheme,
refunds, agreements, and a rule-based state machine over all of it (money is never created,
refunds never exceed what was paid, final states stay final)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from broker.payments.provider import RefundStatus, TradeState
from broker.payments.sandbox.book import Book
from broker.payments.sandbox.records import (
    DEFAULT_PAYER_ID,
    BookError,
    RefundDone,
    SandboxTrade,
    TradePaid,
)

T0 = 1_700_000_000_000
M, APP = "1900000109", "wx-app"


def code(tail: str, serial: int = 1) -> str:
    return f"13{serial:014d}{tail}"


@pytest.fixture
def book() -> Book:
    b = Book(refund_delay_ms=2_000)
    b.wallets.add_merchant(M, APP, "Fresh Mart")
    return b


def native(book: Book, no: str = "n-1", fen: int = 1300, at: int = T0, **kw) -> SandboxTrade:
    return book.native(M, APP, no, fen, "Milk", at, notify_url="http://m/notify", **kw)


def codepay(book: Book, tail: str, no: str = "c-1", fen: int = 500, at: int = T0,
            serial: int = 1) -> SandboxTrade:
    return book.codepay(M, APP, no, fen, "Bread", at, auth_code=code(tail, serial))


def refusal(fn, *args, **kw) -> str:
    with pytest.raises(BookError) as e:
        fn(*args, **kw)
    return e.value.code


# -- native --------------------------------------------------------------------------------

def test_a_native_order_is_paid_by_the_wallet_and_notified(book: Book) -> None:
    shopper = book.wallets.add_payer("Li", 5_000)
    t = native(book)
    assert t.state is TradeState.NOTPAY and t.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    book.approve(t.code_url, shopper.payer_id, T0 + 1_000)
    assert (t.state, t.success_ms, t.payer_id) == (TradeState.SUCCESS, T0 + 1_000,
                                                   shopper.payer_id)
    assert shopper.balance_fen == 3_700 and book.wallets.merchants[M].balance_fen == 1_300
    [event] = book.drain_events()
    assert isinstance(event, TradePaid) and event.trade.state is TradeState.SUCCESS
    assert book.drain_events() == []


def test_a_poor_payer_or_a_refusing_bank_leaves_the_order_payable(book: Book) -> None:
    poor = book.wallets.add_payer("Poor", 100)
    t = native(book)
    assert refusal(book.approve, t.code_url, poor.payer_id, T0) == "NOTENOUGH"
    assert refusal(book.approve, t.code_url, DEFAULT_PAYER_ID, T0, refuse=True) == "TRADE_ERROR"
    assert t.state is TradeState.NOTPAY and poor.balance_fen == 100
    book.approve(t.code_url, DEFAULT_PAYER_ID, T0)
    assert book.approve(t.code_url, DEFAULT_PAYER_ID, T0) is t  # a double tap pays once
    assert refusal(book.approve, t.code_url, poor.payer_id, T0) == "ORDERPAID"


def test_a_native_order_expires_at_time_expire_and_can_then_not_be_paid(book: Book) -> None:
    t = native(book, expire_ms=T0 + 60_000)
    assert book.query(M, "n-1", T0 + 59_999).state is TradeState.NOTPAY
    assert book.query(M, "n-1", T0 + 60_000).state is TradeState.CLOSED
    assert refusal(book.approve, t.code_url, DEFAULT_PAYER_ID, T0 + 61_000) == "ORDER_CLOSED"
    assert refusal(native, book, "n-2", expire_ms=T0) == "PARAM_ERROR"


def test_close_ends_only_unpaid_orders(book: Book) -> None:
    native(book, "open")
    assert book.close(M, "open", T0).state is TradeState.CLOSED
    assert book.close(M, "open", T0).state is TradeState.CLOSED  # idempotent
    paid = native(book, "paid")
    book.approve(paid.code_url, DEFAULT_PAYER_ID, T0)
    assert refusal(book.close, M, "paid", T0) == "ORDERPAID"
    assert refusal(book.close, M, "nope", T0) == "ORDER_NOT_EXIST"


def test_a_repeated_request_is_the_same_order_and_a_different_one_is_refused(book: Book) -> None:
    first = native(book)
    assert native(book) is first
    assert refusal(native, book, fen=1301) == "OUT_TRADE_NO_USED"
    assert refusal(book.native, M, "other-app", "n-9", 1, "x", T0,
                   notify_url="u") == "APPID_MCHID_NOT_MATCH"
    assert refusal(native, book, "n-10", fen=0) == "PARAM_ERROR"


# -- payment codes -------------------------------------------------------------------------

def test_payment_codes_choose_their_outcome(book: Book) -> None:
    assert codepay(book, "00", "ok", serial=1).state is TradeState.SUCCESS
    poor = codepay(book, "80", "poor", serial=2)
    assert (poor.state, poor.error_code) == (TradeState.PAYERROR, "NOTENOUGH")
    expired = codepay(book, "81", "old", serial=3)
    assert (expired.state, expired.error_code) == (TradeState.PAYERROR, "AUTHCODEEXPIRE")
    assert refusal(book.codepay, M, APP, "bad", 1, "x", T0, auth_code="990000000000000000") \
        == "PARAM_ERROR"
    assert (M, "bad") not in book.trades
    assert book.drain_events() == []  # payment codes are never notified


def test_userpaying_becomes_success_after_the_code_s_seconds(book: Book) -> None:
    before = book.wallets.payers[DEFAULT_PAYER_ID].balance_fen
    t = codepay(book, "95")
    assert t.state is TradeState.USERPAYING
    assert book.query(M, "c-1", T0 + 4_999).state is TradeState.USERPAYING
    assert book.query(M, "c-1", T0 + 5_000).state is TradeState.SUCCESS
    assert book.wallets.payers[DEFAULT_PAYER_ID].balance_fen == before - 500


def test_userpaying_waits_for_the_payer_or_is_revoked_after_45_s(book: Book) -> None:
    codepay(book, "90", "waits", serial=1)
    assert book.confirm(M, "waits", True, T0 + 10_000).state is TradeState.SUCCESS
    codepay(book, "90", "declined", serial=2)
    assert book.confirm(M, "declined", False, T0).state is TradeState.PAYERROR
    codepay(book, "90", "forgotten", serial=3)
    assert book.query(M, "forgotten", T0 + 44_999).state is TradeState.USERPAYING
    assert book.query(M, "forgotten", T0 + 45_000).state is TradeState.REVOKED
    codepay(book, "85", "cancels", serial=4)
    assert book.query(M, "cancels", T0 + 5_000).state is TradeState.PAYERROR


def test_a_code_pays_once_and_issued_codes_debit_their_payer(book: Book) -> None:
    codepay(book, "00", "first")
    assert codepay(book, "00", "first") is book.trades[(M, "first")]  # same request, same trade
    again = codepay(book, "00", "second")
    assert (again.state, again.error_code) == (TradeState.PAYERROR, "AUTH_CODE_INVALID")
    poor = book.wallets.add_payer("Poor", 300)
    issued = book.wallets.issue_code(poor.payer_id)
    t = book.codepay(M, APP, "issued", 500, "x", T0, auth_code=issued)
    assert (t.state, t.error_code, poor.balance_fen) == (TradeState.PAYERROR, "NOTENOUGH", 300)


def test_reverse_gives_back_a_paid_order_and_cancels_a_pending_one(book: Book) -> None:
    before = book.wallets.payers[DEFAULT_PAYER_ID].balance_fen
    codepay(book, "00", "paid", serial=1)
    assert book.reverse(M, "paid", T0 + 1).state is TradeState.REVOKED
    assert book.wallets.payers[DEFAULT_PAYER_ID].balance_fen == before
    codepay(book, "95", "pending", serial=2)
    book.reverse(M, "pending", T0 + 1)
    assert book.query(M, "pending", T0 + 10_000).state is TradeState.REVOKED  # never settles
    assert book.wallets.payers[DEFAULT_PAYER_ID].balance_fen == before
    native(book)
    assert refusal(book.reverse, M, "n-1", T0) == "INVALID_REQUEST"


# -- refunds -------------------------------------------------------------------------------

def test_refunds_are_idempotent_bounded_and_complete_after_the_delay(book: Book) -> None:
    codepay(book, "00", "paid")
    payer = book.wallets.payers[DEFAULT_PAYER_ID]
    before = payer.balance_fen
    r = book.refund(M, "paid", "r-1", 200, 500, T0, notify_url="http://m/refund")
    assert r.status is RefundStatus.PROCESSING
    assert book.query(M, "paid", T0).state is TradeState.REFUND
    assert book.refund(M, "paid", "r-1", 200, 500, T0 + 1) is r
    assert refusal(book.refund, M, "paid", "r-1", 300, 500, T0) == "INVALID_REQUEST"
    assert refusal(book.refund, M, "paid", "r-2", 301, 500, T0) == "INVALID_REQUEST"
    assert refusal(book.refund, M, "paid", "r-2", 100, 400, T0) == "PARAM_ERROR"
    assert payer.balance_fen == before  # money moves when the refund succeeds
    assert book.query_refund(M, "r-1", T0 + 2_000).status is RefundStatus.SUCCESS
    assert payer.balance_fen == before + 200
    [event] = book.drain_events()
    assert isinstance(event, RefundDone) and event.refund.out_refund_no == "r-1"
    book.refund(M, "paid", "r-2", 300, 500, T0 + 3_000)
    assert refusal(book.refund, M, "paid", "r-3", 1, 500, T0 + 3_000) == "INVALID_REQUEST"
    assert refusal(book.query_refund, M, "r-9", T0) == "RESOURCE_NOT_EXISTS"


def test_unpaid_or_reversed_orders_cannot_be_refunded(book: Book) -> None:
    native(book)
    assert refusal(book.refund, M, "n-1", "r-1", 1, 1300, T0) == "INVALID_REQUEST"
    codepay(book, "00", "rev")
    book.reverse(M, "rev", T0)
    assert refusal(book.refund, M, "rev", "r-2", 1, 500, T0) == "INVALID_REQUEST"
    assert refusal(book.refund, M, "none", "r-3", 1, 500, T0) == "ORDER_NOT_EXIST"


# -- agreements ----------------------------------------------------------------------------

def test_agreement_charges_debit_the_contract_s_payer(book: Book) -> None:
    payer = book.wallets.add_payer("Face", 1_000)
    contract = book.wallets.sign_contract(M, payer.payer_id, T0)
    t = book.agreement_charge(M, APP, "a-1", 800, "x", T0, contract_id=contract.contract_id,
                              notify_url="http://m/n")
    assert (t.state, payer.balance_fen) == (TradeState.SUCCESS, 200)
    [event] = book.drain_events()
    assert isinstance(event, TradePaid)
    t2 = book.agreement_charge(M, APP, "a-2", 800, "x", T0, contract_id=contract.contract_id,
                               notify_url="http://m/n")
    assert (t2.state, t2.error_code, payer.balance_fen) == (TradeState.PAYERROR, "NOTENOUGH", 200)
    book.wallets.terminate_contract(contract.contract_id)
    assert refusal(book.agreement_charge, M, APP, "a-3", 1, "x", T0,
                   contract_id=contract.contract_id, notify_url="u") == "CONTRACT_NOT_EXIST"


# -- the state machine ---------------------------------------------------------------------

TAILS = ["00", "80", "81", "85", "90", "93"]


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = Book(refund_delay_ms=1_500, default_balance_fen=50_000)
        self.book.wallets.add_merchant(M, APP, "M")
        self.now = T0
        self.n = 0
        self.seen: dict[tuple[str, str], TradeState] = {}
        self.payers = [DEFAULT_PAYER_ID]

    def _no(self) -> str:
        self.n += 1
        return f"o-{self.n}"

    def _try(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except BookError:
            return None

    @rule(balance=st.integers(0, 3_000))
    def add_payer(self, balance: int) -> None:
        self.payers.append(self.book.wallets.add_payer("p", balance).payer_id)

    @rule(fen=st.integers(1, 4_000))
    def new_native(self, fen: int) -> None:
        self.book.native(M, APP, self._no(), fen, "x", self.now, notify_url="u",
                         expire_ms=self.now + 30_000)

    @rule(tail=st.sampled_from(TAILS), fen=st.integers(1, 4_000), data=st.data())
    def new_codepay(self, tail: str, fen: int, data: st.DataObject) -> None:
        payer = data.draw(st.sampled_from(self.payers))
        auth = self.book.wallets.issue_code(payer, tail) if payer != DEFAULT_PAYER_ID \
            else code(tail, self.n + 1)
        self.book.codepay(M, APP, self._no(), fen, "x", self.now, auth_code=auth)

    @rule(fen=st.integers(1, 4_000), data=st.data())
    def agreement(self, fen: int, data: st.DataObject) -> None:
        payer = data.draw(st.sampled_from(self.payers))
        c = self.book.wallets.sign_contract(M, payer, self.now)
        self.book.agreement_charge(M, APP, self._no(), fen, "x", self.now,
                                   contract_id=c.contract_id, notify_url="u")

    def _pick(self, data: st.DataObject) -> SandboxTrade:
        return data.draw(st.sampled_from(list(self.book.trades.values())))

    @precondition(lambda self: self.book.trades)
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        t = self._pick(data)
        if t.code_url:
            self._try(self.book.approve, t.code_url, data.draw(st.sampled_from(self.payers)),
                      self.now)

    @precondition(lambda self: self.book.trades)
    @rule(data=st.data(), ok=st.booleans())
    def confirm(self, data: st.DataObject, ok: bool) -> None:
        self._try(self.book.confirm, M, self._pick(data).out_trade_no, ok, self.now)

    @precondition(lambda self: self.book.trades)
    @rule(data=st.data(), op=st.sampled_from(["close", "reverse"]))
    def end(self, data: st.DataObject, op: str) -> None:
        self._try(getattr(self.book, op), M, self._pick(data).out_trade_no, self.now)

    @precondition(lambda self: self.book.trades)
    @rule(data=st.data(), fen=st.integers(1, 4_000), reuse=st.booleans())
    def refund(self, data: st.DataObject, fen: int, reuse: bool) -> None:
        t = self._pick(data)
        no = f"r-{t.out_trade_no}" if reuse else f"r-{self._no()}"
        self._try(self.book.refund, M, t.out_trade_no, no, fen, t.amount_fen, self.now)

    @rule(ms=st.integers(0, 50_000))
    def wait(self, ms: int) -> None:
        self.now += ms
        self.book.advance(self.now)

    @invariant()
    def money_is_never_created_or_lost(self) -> None:
        w = self.book.wallets
        assert w.total_money_fen() == w.deposits_fen
        assert all(p.balance_fen >= 0 for p in w.payers.values())
        assert w.merchants[M].balance_fen >= 0

    @invariant()
    def refunds_never_exceed_what_was_paid(self) -> None:
        for t in self.book.trades.values():
            given_back = t.refunded_fen + t.pending_refund_fen + t.returned_fen
            assert given_back <= t.amount_fen
            if given_back:
                assert t.success_ms is not None
        for r in self.book.refunds.values():
            assert r.amount_fen <= self.book.trades[(M, r.out_trade_no)].amount_fen

    @invariant()
    def final_states_stay_final(self) -> None:
        for key, t in self.book.trades.items():
            prev = self.seen.get(key)
            if prev is not None and prev.final:
                assert t.state.final, f"{key}: {prev} -> {t.state}"
                if prev in (TradeState.PAYERROR, TradeState.CLOSED, TradeState.REVOKED):
                    assert t.state is prev
                if prev.paid:
                    assert t.state.paid or t.state is TradeState.REVOKED
            if t.state.paid:
                assert t.success_ms is not None and t.payer_id in self.book.wallets.payers
            self.seen[key] = t.state


TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
