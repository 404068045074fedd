"""Terminal requests of the member services (docs/checkout.md): params validated here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from broker.members.ad_offers import AdOffers, ad_offer_handlers
from broker.members.desk import MemberDesk
from broker.members.ereceipt_desk import EReceipts
from broker.payments.checkout_api import Handler, _params
from kiosk.wire.messages import Request

OrderId = Annotated[str, Field(pattern=r"^o[a-z2-7]{12}$")]
MemberId = Annotated[str, Field(pattern=r"^m-[0-9a-z]{8,38}$")]


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OfferParams(_P):
    order_id: OrderId


class JoinParams(_P):
    order_id: OrderId
    confirm: Literal[True]  # joining needs the shopper's tap


class PointsParams(_P):
    order_id: OrderId
    member_id: MemberId
    points: Annotated[int, Field(ge=1, le=10**9, strict=True)]


class CouponParams(_P):
    order_id: OrderId
    code: Annotated[str, Field(min_length=1, max_length=64)]


class LinkParams(_P):
    order_id: OrderId


class ClaimParams(_P):
    token: Annotated[str, Field(min_length=1, max_length=512)]
    member_id: MemberId


def member_handlers(desk: MemberDesk,
                    ereceipts: EReceipts | None = None) -> dict[str, Handler]:
    async def offer(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(OfferParams, req)
        return await desk.offer(p.order_id, device_id)

    async def join(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(JoinParams, req)
        return await desk.join(p.order_id, device_id)

    async def points(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(PointsParams, req)
        order = await desk.apply_points(p.order_id, p.member_id, p.points, device_id)
        return {"order": order.view()}

    async def coupon(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(CouponParams, req)
        order = await desk.apply_coupon(p.order_id, p.code, device_id)
        return {"order": order.view()}

    async def claim(device_id: str, req: Request) -> dict[str, Any]:
        p = _params(ClaimParams, req)
        return await desk.claim_receipt(p.token, p.member_id)

    async def receipt_link(device_id: str, req: Request) -> dict[str, Any]:
        assert ereceipts is not None
        p = _params(LinkParams, req)
        return await ereceipts.link(p.order_id, device_id)

    handlers: dict[str, Handler] = {
        "member.offer": offer, "member.join": join, "points.apply": points,
        "coupon.apply": coupon, "receipt.claim": claim}
    handlers.update(ad_offer_handlers(AdOffers(desk.ctx)))  # ad.offer, coupon.claim
    if ereceipts is not None:
        handlers["receipt.link"] = receipt_link
    return handlers
