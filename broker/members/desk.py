"""The shopper-facing member services (loop-bound): join with one tap, points as cash,
coupons at checkout, receipt QR claims.

Joining needs nothing typed: the paying wallet identifies the shopper. If that wallet (or the
member paying by face) already belongs to a member of any brand here, the new membership is
made from that profile (the terminal shows it masked and the shopper confirms); otherwise a
new member is created. Either way this order's points are credited at once and a welcome
coupon is issued, each exactly once however often the terminal repeats the call.
"""

from __future__ import annotations

import secrets
from typing import Any

from broker.loyalty import coupon_codes
from broker.loyalty.accrual import OrderLine, points_for
from broker.loyalty.coupons import issue
from broker.loyalty.receipt_token import ReceiptTokenError
from broker.loyalty.receipt_token import verify as verify_receipt
from broker.loyalty.redemption import quote
from broker.members.context import MemberContext
from broker.members.member_prices import apply_member_prices
from broker.members.programme import coupon_record, coupon_wire
from broker.members.settlement import Settlement, redeem_ref
from broker.payments.service import CheckoutError
from broker.storage import coupons as coupon_db
from broker.storage import members as member_db
from broker.storage import payments as pay_db
from broker.storage import points as points_db
from broker.storage import receipts as receipt_db
from broker.storage import stores as store_db
from broker.storage.errors import NotFoundError
from broker.storage.loyalty_errors import (
    AlreadyClaimedError,
    CouponUnavailableError,
    InsufficientBalanceError,
    LedgerConflictError,
)
from broker.storage.loyalty_records import MemberRecord, MembershipRecord
from broker.storage.payments_records import OrderRecord
from broker.storage.reward_records import ReceiptClaim

PAID_STATES = ("paid", "refunded")


class MemberDesk:
    def __init__(self, ctx: MemberContext, settlement: Settlement, *,
                 receipt_keys: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.settlement = settlement
        self.receipt_keys = receipt_keys or {}

    async def _order(self, order_id: str, device_id: str | None) -> OrderRecord:
        order = await pay_db.get_order(self.ctx.db, order_id)
        if order is None or (device_id is not None and order.device_id != device_id):
            raise CheckoutError("not_found", f"no order {order_id}")
        return order

    async def _profile(self, member: MemberRecord) -> dict[str, Any]:
        brands = [m.brand_id for m in await member_db.list_memberships(self.ctx.db,
                                                                       member.member_id)]
        return {"member_id": member.member_id, "display_name": member.display_name,
                "masked_phone": member.phone_masked, "brands": brands}

    # ---- join ----------------------------------------------------------------------------------

    async def offer(self, order_id: str, device_id: str | None = None) -> dict[str, Any]:
        order = await self._order(order_id, device_id)
        if order.state not in PAID_STATES:
            raise CheckoutError("conflict", f"order {order_id} is {order.state}, not paid")
        member = await self.ctx.member_of(order)
        joined = member is not None and await member_db.get_membership(
            self.ctx.db, member.member_id, order.brand_id) is not None
        can_identify = member is not None or self.ctx.identity(order) is not None
        tier = "member"
        return {"eligible": can_identify and not joined, "already_member": joined,
                "brand_id": order.brand_id,
                "points": await self.settlement.points_for(order, tier),
                "profile": await self._profile(member) if member else None}

    async def join(self, order_id: str, device_id: str | None = None) -> dict[str, Any]:
        db, now = self.ctx.db, self.ctx.now_ms()
        order = await self._order(order_id, device_id)
        if order.state not in PAID_STATES:
            raise CheckoutError("conflict", f"order {order_id} is {order.state}, not paid")
        member = await self.ctx.member_of(order)
        if member is None:
            identity = self.ctx.identity(order)
            if identity is None:
                raise CheckoutError("conflict", "this payment does not identify the shopper")
            member, _ = await member_db.ensure_wallet_member(
                db, identity, MemberRecord.new("Member", now), now)
        await member_db.join_brand(db, MembershipRecord(
            member_id=member.member_id, brand_id=order.brand_id, joined_ms=now,
            source_order_id=order.order_id))
        await pay_db.set_member(db, order.order_id, member.member_id)
        credited = await self.settlement.credit(order, member.member_id)
        coupon = await self._welcome_coupon(order, member.member_id)
        bal = await points_db.balance(db, member.member_id, order.brand_id)
        return {"member_id": member.member_id, "brand_id": order.brand_id,
                "points_credited": credited, "balance": bal.available,
                "coupon": coupon_wire(coupon) if coupon else None,
                "profile": await self._profile(member)}

    async def _welcome_coupon(self, order: OrderRecord, member_id: str) -> Any:
        template = self.ctx.programme(order.brand_id).welcome
        if template is None:
            return None
        now = self.ctx.now_ms()
        c = issue(template, coupon_codes.new_code(secrets.token_bytes), now, member_id=member_id)
        record, _ = await coupon_db.issue_coupon(self.ctx.db, coupon_record(
            c, kind="welcome", issue_ref=member_id, now_ms=now, order_id=order.order_id))
        return record

    # ---- points and coupons at checkout ----------------------------------------------------

    async def apply_points(self, order_id: str, member_id: str, points: int,
                           device_id: str | None = None) -> OrderRecord:
        db, now = self.ctx.db, self.ctx.now_ms()
        order = await self._order(order_id, device_id)
        if order.state != "open":
            raise CheckoutError("conflict", f"order {order_id} is {order.state}")
        if order.member_id not in (None, member_id):
            raise CheckoutError("conflict", "the order belongs to another member")
        if order.points_used:
            raise CheckoutError("conflict", "points are already applied to this order")
        # the member is identified: member prices first, points then pay part of the rest
        order = await apply_member_prices(db, order, member_id, now_ms=now)
        try:
            bal = await points_db.balance(db, member_id, order.brand_id)
        except NotFoundError:  # not a member of the brand: no points here
            raise CheckoutError("declined", f"not a member of {order.brand_id}") from None
        rules = self.ctx.programme(order.brand_id).redemption
        q = quote(bal.available, points, order.payable_fen, rules)
        if q.points_used == 0:
            raise CheckoutError("declined", f"no points can be used ({q.limited_by})")
        try:
            await points_db.redeem_points(db, member_id=member_id, brand_id=order.brand_id,
                                          points=q.points_used, ref=redeem_ref(order_id),
                                          now_ms=now, order_id=order_id)
        except (InsufficientBalanceError, LedgerConflictError, NotFoundError) as exc:
            raise CheckoutError("declined", str(exc)) from None
        try:
            return await pay_db.apply_discount(
                db, order_id, now_ms=now, discount_fen=order.discount_fen + q.discount_fen,
                points_used=q.points_used, member_id=member_id)
        except pay_db.OrderStateError as exc:
            await points_db.return_redeemed_points(db, brand_id=order.brand_id,
                                                   ref=redeem_ref(order_id), now_ms=now)
            raise CheckoutError("conflict", str(exc)) from None

    async def apply_coupon(self, order_id: str, code: str,
                           device_id: str | None = None) -> OrderRecord:
        db, now = self.ctx.db, self.ctx.now_ms()
        order = await self._order(order_id, device_id)
        if order.state != "open" or order.coupon_code:
            raise CheckoutError("conflict", f"order {order_id} cannot take a coupon now")
        try:
            canonical = coupon_codes.parse_code(code)
            coupon = await coupon_db.redeem_coupon(
                db, canonical, order_id=order_id, brand_id=order.brand_id,
                store_id=order.store_id, member_id=order.member_id,
                order_amount_fen=order.amount_fen, now_ms=now)
        except coupon_codes.CouponCodeError as exc:
            raise CheckoutError("bad_request", f"not a coupon code: {exc}") from None
        except NotFoundError:
            raise CheckoutError("not_found", "no such coupon") from None
        except CouponUnavailableError as exc:
            raise CheckoutError("declined", f"coupon not usable: {exc.reason}") from None
        off = min(coupon.discount_fen(order.payable_fen), order.payable_fen - 1)
        try:
            return await pay_db.apply_discount(db, order_id, now_ms=now,
                                               discount_fen=order.discount_fen + off,
                                               coupon_code=canonical)
        except pay_db.OrderStateError as exc:
            await coupon_db.release_coupon(db, canonical, order_id, now)
            raise CheckoutError("conflict", str(exc)) from None

    async def release_discounts(self, order: OrderRecord) -> None:
        """An order closed unpaid: its points and coupon go back to the member."""
        now = self.ctx.now_ms()
        if order.points_used:
            await points_db.return_redeemed_points(self.ctx.db, brand_id=order.brand_id,
                                                   ref=redeem_ref(order.order_id), now_ms=now)
        await coupon_db.release_order_coupons(self.ctx.db, order.order_id, now)

    # ---- receipts ------------------------------------------------------------------------------

    async def claim_receipt(self, token: str, member_id: str) -> dict[str, Any]:
        db, now = self.ctx.db, self.ctx.now_ms()
        try:
            claim = verify_receipt(token, self.receipt_keys, now)
        except ReceiptTokenError as exc:
            code = "expired" if exc.reason == "expired" else "invalid_token"
            raise CheckoutError(code, f"receipt refused: {exc.reason}") from None
        membership = await member_db.get_membership(db, member_id, claim.brand_id)
        programme = self.ctx.programme(claim.brand_id)
        store = await store_db.get_store(db, claim.store_id)
        store_tz = store.timezone if store else "Asia/Shanghai"
        points = points_for([OrderLine("receipt", "", claim.amount_fen)], claim.amount_fen,
                            programme.accrual, tier=membership.tier if membership else "member",
                            store_id=claim.store_id, store_tz=store_tz,
                            at_ms=claim.issued_ms).total
        try:
            result = await receipt_db.claim_receipt(db, ReceiptClaim(
                token_id=claim.token_id, brand_id=claim.brand_id, store_id=claim.store_id,
                order_ref=claim.order_ref, amount_fen=claim.amount_fen, points=points,
                claimed_by=member_id, claimed_ms=now))
        except AlreadyClaimedError:
            raise CheckoutError("already_claimed", "this receipt was claimed already") from None
        except NotFoundError as exc:
            raise CheckoutError("not_found", str(exc)) from None
        return {"points_credited": result.entry.delta if result.entry else 0,
                "balance": result.balance.available, "joined": result.joined,
                "brand_id": claim.brand_id}
