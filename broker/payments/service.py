"""The checkout service: orders, pay requests, status and cancel (loop-bound).

Each pay request opens one attempt (one `out_trade_no`) after the storage checks that the
order is open and has no live attempt, then calls the provider once. A repeated request with
the same idempotency key finds its attempt and reports it; it never calls the provider again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from broker import storage
from broker.payments import lifecycle as lc
from broker.payments.driver import AttemptDriver
from broker.payments.face_policy import FacePolicy, face_decision
from broker.payments.order_input import KeypadOrder, NewOrder, PayParams
from broker.payments.provider import OutcomeUnknown, ProviderError, Trade, TradeState
from broker.storage import payments as pay_db
from broker.storage.payments_records import AttemptRecord, OrderRecord, new_order_id

log = logging.getLogger(__name__)


class CheckoutError(Exception):
    """An error the terminal or POS is told about: `code` as in docs/checkout.md."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FaceWallets(Protocol):
    """What face pay needs from members and stored value."""

    async def phone_last4_matches(self, member_id: str, last4: str) -> bool: ...
    async def stored_value_balance(self, member_id: str) -> int: ...
    async def debit_stored_value(self, member_id: str, amount_fen: int, ref: str) -> bool: ...
    async def agreement(self, member_id: str, provider: str) -> str | None: ...


# A member was identified before paying (face): the order with the member prices applied
# when the member belongs to the order's brand, else the order unchanged.
MemberPrices = Callable[[OrderRecord, str], Awaitable[OrderRecord]]


@dataclass(frozen=True, slots=True)
class CheckoutConfig:
    order_ttl_s: float = 15 * 60  # an unpaid order closes after this
    qr_ttl_s: float = 120.0  # how long the terminal shows a dynamic QR
    description: str = "Store purchase"
    face: FacePolicy = field(default_factory=FacePolicy)


class CheckoutService:
    def __init__(self, db: storage.Database, driver: AttemptDriver, *,
                 config: CheckoutConfig | None = None, wallets: FaceWallets | None = None,
                 on_closed: Callable[[OrderRecord], Awaitable[None]] | None = None,
                 member_prices: MemberPrices | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.on_closed = on_closed
        self.member_prices = member_prices
        self.driver = driver
        self.provider = driver.provider
        self.config = config or CheckoutConfig()
        self.wallets = wallets
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ---- orders ------------------------------------------------------------------------------

    async def create_order(self, new: NewOrder, *, source: str = "pos") -> tuple[OrderRecord,
                                                                               bool]:
        now = self.now_ms()
        order = OrderRecord(
            order_id=new_order_id(), store_id=new.store_id, device_id=new.device_id,
            brand_id=new.brand_id, items=tuple(i.model_dump() for i in new.items),
            amount_fen=new.total_fen, state="open", source=source,
            request_key=f"{source}:{new.store_id}:{new.idempotency_key}",
            request_sha256=new.digest(), created_ms=now,
            expires_ms=now + int(self.config.order_ttl_s * 1000), updated_ms=now)
        try:
            return await pay_db.create_order(self.db, order)
        except storage.AlreadyExistsError as exc:
            raise CheckoutError("conflict", str(exc)) from None

    async def keypad_order(self, device_id: str, store_id: str, keyed: KeypadOrder,
                           key: str) -> tuple[OrderRecord, bool]:
        new = NewOrder(store_id=store_id, device_id=device_id, brand_id=keyed.brand_id,
                       items=[{"sku": "keypad", "name": keyed.note or "Amount",  # type: ignore[list-item]
                               "qty": 1, "unit_fen": keyed.amount_fen}],
                       idempotency_key=key)
        return await self.create_order(new, source="keypad")

    async def order(self, order_id: str, device_id: str | None = None) -> OrderRecord:
        order = await pay_db.get_order(self.db, order_id)
        if order is None or (device_id is not None and order.device_id != device_id):
            raise CheckoutError("not_found", f"no order {order_id}")
        return order

    async def pending(self, device_id: str) -> list[OrderRecord]:
        """The terminal's orders still to be paid (oldest first)."""
        return await pay_db.open_orders_of(self.db, device_id, self.now_ms())

    # ---- paying ------------------------------------------------------------------------------

    async def pay(self, device_id: str, params: PayParams, key: str) -> tuple[OrderRecord,
                                                                           AttemptRecord]:
        order = await self.order(params.order_id, device_id)
        method, contract = params.method, None
        if params.method == "face":
            member_id = await self._face_verified(order, params)
            if self.member_prices is not None:
                # a member of the order's brand pays the member prices (before the charge)
                order = await self.member_prices(order, member_id)
            method, contract = await self._face_funding(order, member_id)
            if order.member_id is None:
                # the face named the payer: points and receipts go to that member
                await pay_db.set_member(self.db, order.order_id, member_id)
        now = self.now_ms()
        ttl = self.config.qr_ttl_s if method == "native" else self.driver.timings.code_deadline_s
        draft = AttemptRecord(
            out_trade_no="pending-0", order_id=order.order_id, provider=(
                "wallet" if method == "face_balance" else self.provider.name),
            method=method, state="pending", amount_fen=order.payable_fen,
            request_key=f"{device_id}:{key}", created_ms=now, updated_ms=now,
            expires_ms=now + int(ttl * 1000), contract_id=contract,
            # if this process dies before the provider answers, the sweeper queries
            next_check_ms=now + int(self.driver.timings.unknown_query_s * 1000))
        try:
            attempt, created = await pay_db.start_attempt(self.db, order.order_id, draft,
                                                          now_ms=now)
        except pay_db.OrderStateError as exc:
            raise CheckoutError("conflict", str(exc)) from None
        if created:
            attempt = await self._create_at_provider(attempt, params)
        if attempt.live:  # what start_attempt wrote: no need to read it back
            order = replace(order, state="paying", attempts=order.attempts + 1)
        else:
            order = await self.order(order.order_id)
        if attempt.unknown and not attempt.final:
            raise CheckoutError("unavailable", "the payment provider did not answer; "
                                "the outcome is being checked")
        return order, attempt

    async def _face_verified(self, order: OrderRecord, params: PayParams) -> str:
        """The member the face names, once the match (and a second factor) is good enough."""
        face = params.face
        if face is None or self.wallets is None:
            raise CheckoutError("bad_request", "face pay is not available")
        verdict = face_decision(self.config.face, amount_fen=order.payable_fen,
                                distance=face.distance, margin=face.margin,
                                gallery_size=face.gallery_size)
        if verdict == "reject":
            raise CheckoutError("declined", "the face match is not close enough")
        if verdict == "second_factor":
            if params.phone_last4 is None:
                raise CheckoutError("second_factor_required",
                                    "enter the last four digits of your phone")
            if not await self.wallets.phone_last4_matches(face.member_id, params.phone_last4):
                # asked again (the terminal counts the tries and falls back to QR / code)
                raise CheckoutError("second_factor_required",
                                    "those digits do not match: try again")
        return face.member_id

    async def _face_funding(self, order: OrderRecord, member_id: str) -> tuple[str, str | None]:
        """Stored value when it covers the order, else the member's wallet agreement."""
        assert self.wallets is not None
        if await self.wallets.stored_value_balance(member_id) >= order.payable_fen:
            return "face_balance", member_id
        contract = await self.wallets.agreement(member_id, self.provider.name)
        if contract is None:
            raise CheckoutError("declined", "no stored value or wallet agreement for face pay")
        return "face_agreement", contract

    async def _create_at_provider(self, attempt: AttemptRecord,
                                  params: PayParams) -> AttemptRecord:
        d = self.driver
        async with d.lock(attempt.out_trade_no):
            view, now = attempt.as_view(), self.now_ms()
            try:
                if attempt.method == "face_balance":
                    return await self._charge_balance(attempt)
                async with d.provider_call():
                    if attempt.method == "native":
                        qr = await self.provider.native(
                            attempt.out_trade_no, attempt.amount_fen, self.config.description,
                            expires_ms=attempt.expires_ms, attach=attempt.order_id)
                        return await d.save(attempt, lc.created_native(view, now, d.timings),
                                            code_url=qr.code_url)
                    if attempt.method == "code":
                        assert params.auth_code is not None
                        order = await self.order(attempt.order_id)
                        trade = await self.provider.codepay(
                            attempt.out_trade_no, attempt.amount_fen, self.config.description,
                            auth_code=params.auth_code, store_id=order.store_id,
                            device_id=order.device_id)
                    else:
                        assert attempt.contract_id is not None
                        trade = await self.provider.agreement_pay(
                            attempt.out_trade_no, attempt.amount_fen, self.config.description,
                            contract_id=attempt.contract_id)
                return await d.save(attempt, lc.observed(view, trade, self.now_ms(),
                                                         d.timings))
            except ProviderError as exc:
                return await d.save(attempt, lc.refused(view, exc.code))
            except OutcomeUnknown as exc:
                log.info("create %s: outcome unknown (%s)", attempt.out_trade_no, exc)
                return await d.save(attempt, lc.unknown(view, self.now_ms(), d.timings))

    async def _charge_balance(self, attempt: AttemptRecord) -> AttemptRecord:
        assert self.wallets is not None and attempt.contract_id is not None
        view = attempt.as_view()
        ok = await self.wallets.debit_stored_value(attempt.contract_id, attempt.amount_fen,
                                                   attempt.out_trade_no)
        if not ok:
            return await self.driver.save(attempt, lc.refused(view, "NOTENOUGH"))
        paid = Trade(attempt.out_trade_no, TradeState.SUCCESS, attempt.amount_fen,
                     payer=f"member:{attempt.contract_id}")
        return await self.driver.save(attempt, lc.observed(view, paid, self.now_ms(),
                                                           self.driver.timings))

    async def status(self, order_id: str, device_id: str | None = None) -> tuple[
            OrderRecord, AttemptRecord | None]:
        """The order and its latest attempt; a due attempt is checked with the provider now
        (a terminal polling after an unknown outcome gets the answer as soon as there is one)."""
        order = await self.order(order_id, device_id)
        attempt = await pay_db.latest_attempt(self.db, order_id)
        if attempt is not None and lc.due_action(attempt.as_view(), self.now_ms(),
                                                 self.driver.timings) is not None:
            attempt = await self.driver.act(attempt)
            order = await self.order(order_id)
        return order, attempt

    async def cancel(self, order_id: str, device_id: str | None = None) -> tuple[
            OrderRecord, AttemptRecord | None]:
        """The shopper walked away or the screen timed out: close the live attempt at the
        provider (a QR scanned meanwhile is then refused), then the order."""
        order = await self.order(order_id, device_id)
        attempt = await pay_db.latest_attempt(self.db, order_id)
        if attempt is not None and not attempt.final:
            async with self.driver.lock(attempt.out_trade_no):
                fresh = await pay_db.get_attempt(self.db, attempt.out_trade_no)
                if fresh is not None and not fresh.final:
                    now = self.now_ms()
                    # due now: the next `act` closes (QR) or reverses (code) it
                    await self.driver.save(fresh, _due_now(fresh.as_view(), now))
            attempt = await self.driver.act(attempt)
        if attempt is None or attempt.final:
            order = await pay_db.close_order(self.db, order_id, now_ms=self.now_ms())
            if order.state == "closed" and self.on_closed is not None:
                await self.on_closed(order)  # points and coupon go back (idempotent)
        else:
            order = await self.order(order_id)
        return order, attempt


def _due_now(view: lc.AttemptView, now_ms: int) -> lc.AttemptView:
    return replace(view, expires_ms=min(view.expires_ms, now_ms), next_check_ms=now_ms)


def order_and_attempt(order: OrderRecord, attempt: AttemptRecord | None) -> dict[str, Any]:
    return {"order": order.view(), "attempt": attempt.wire() if attempt else None}
