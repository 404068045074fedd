"""Member and loyalty HTTP API: segments and coupon campaigns (brand token or admin), receipt
QR codes for the POS, fraud review and the member view of the console (admin).

`GET  /api/brands/{brand_id}/segments`         RFM segment counts of the brand's members
`POST /api/brands/{brand_id}/coupon-campaigns` a campaign coupon for each member of a segment
`POST /api/receipts`                           a signed one-time receipt token and its QR
`GET  /api/fraud-flags`                        flags (open by default) with both orders
`POST /api/fraud-flags/{flag_id}`              clear (release points) or confirm (void them)
`GET  /api/members/{member_id}`                profile (masked phone), memberships, coupons
"""

# No `from __future__ import annotations`: FastAPI resolves parameter annotations at import.
import base64
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from broker import storage
from broker.checkout_stack import RECEIPT_KEY_ID
from broker.controller import Controller
from broker.members import fraud_review
from broker.members.campaigns import CampaignConflict, CampaignTerms, run_campaign
from broker.members.context import MemberContext
from broker.members.face_deletion import request_face_deletion
from broker.members.profile import member_view
from broker.members.receipts_issue import issue_receipt
from broker.members.segments import DEFAULT_WINDOW_DAYS, segment_counts
from broker.storage import fraud as fraud_db
from broker.storage import signage
from broker.storage.errors import NotFoundError
from broker.web.auth import admin_dependency, bearer, is_admin

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
SegmentName = Literal["champions", "active", "at_risk", "sleeping", "lost"]
MAX_TTL_S = 90 * 86_400


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountOffIn(_In):
    amount_off_fen: Annotated[int, Field(ge=1, le=10**8, strict=True)]


class PercentOffIn(_In):
    percent_off: Annotated[int, Field(ge=1, le=99, strict=True)]
    max_off_fen: Annotated[int, Field(ge=1, le=10**8, strict=True)]


class CampaignIn(_In):
    campaign_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    segment: SegmentName
    value: AmountOffIn | PercentOffIn
    min_spend_fen: Annotated[int, Field(ge=0, le=10**9, strict=True)] = 0
    valid_days: Annotated[int, Field(ge=1, le=366, strict=True)] = 30


class ReceiptIn(_In):
    brand_id: Ident
    store_id: Ident
    order_ref: Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,64}$")]
    amount_fen: Annotated[int, Field(ge=1, le=2**32 - 1, strict=True)]
    ttl_s: Annotated[int, Field(ge=1, le=MAX_TTL_S, strict=True)] = 7 * 86_400


class FraudDecisionIn(_In):
    decision: fraud_review.Decision
    note: Annotated[str, Field(max_length=500)] = ""


def members_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["members"])

    def ctx() -> MemberContext:
        if controller.checkout is None:
            raise HTTPException(503, "member services are not configured or still starting")
        return controller.checkout.ctx

    admin = admin_dependency(controller)

    Ctx = Annotated[MemberContext, Depends(ctx)]

    async def brand_of_caller(brand_id: str, c: Ctx,
                              authorization: Annotated[str | None, Header()] = None) -> str:
        """The brand in the path, when the caller is the admin or that brand's operator."""
        token = bearer(authorization)
        if not is_admin(controller, token):
            brand = await signage.brand_for_token(c.db, token) if token else None
            if brand is None:
                raise HTTPException(401, "a brand or admin token is required "
                                         "(Authorization: Bearer …)")
            if brand.brand_id != brand_id:
                raise HTTPException(403, "a brand sees only its own members")
        if await signage.get_brand(c.db, brand_id) is None:
            raise HTTPException(404, f"no brand {brand_id!r}")
        return brand_id

    Brand = Annotated[str, Depends(brand_of_caller)]

    @router.get("/brands/{brand_id}/segments")
    async def segments(brand_id: Brand, c: Ctx,
                       window_days: Annotated[int, Query(ge=1, le=3660)] = DEFAULT_WINDOW_DAYS,
                       ) -> dict[str, Any]:
        return asdict(await segment_counts(c.db, brand_id, c.now_ms(), window_days))

    @router.post("/brands/{brand_id}/coupon-campaigns")
    async def coupon_campaign(brand_id: Brand, body: CampaignIn, c: Ctx) -> dict[str, Any]:
        value = body.value
        terms = CampaignTerms(
            brand_id=brand_id, campaign_id=body.campaign_id, segment=body.segment,
            valid_days=body.valid_days, min_spend_fen=body.min_spend_fen,
            amount_off_fen=value.amount_off_fen if isinstance(value, AmountOffIn) else None,
            percent_off=value.percent_off if isinstance(value, PercentOffIn) else None,
            max_off_fen=value.max_off_fen if isinstance(value, PercentOffIn) else None)
        try:
            result = await run_campaign(c.db, terms, c.now_ms())
        except CampaignConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        return asdict(result)

    @router.post("/receipts", dependencies=[Depends(admin)])
    async def receipt(body: ReceiptIn, c: Ctx) -> dict[str, Any]:
        if await signage.get_brand(c.db, body.brand_id) is None:
            raise HTTPException(404, f"no brand {body.brand_id!r}")
        if await storage.get_store(c.db, body.store_id) is None:
            raise HTTPException(404, f"no store {body.store_id!r}")
        assert controller.checkout is not None
        try:
            issued = await issue_receipt(
                controller.checkout.receipt_key, key_id=RECEIPT_KEY_ID, brand_id=body.brand_id,
                store_id=body.store_id, order_ref=body.order_ref, amount_fen=body.amount_fen,
                now_ms=c.now_ms(), ttl_ms=body.ttl_s * 1000)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"token": issued.token, "expires_ms": issued.expires_ms,
                "qr_png_base64": base64.b64encode(issued.qr_png).decode("ascii")}

    @router.get("/fraud-flags", dependencies=[Depends(admin)])
    async def fraud_flags(c: Ctx,
                          status: Literal["open", "cleared", "confirmed", "all"] = "open",
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        flags = await fraud_db.list_fraud_flags(c.db, None if status == "all" else status,
                                                limit=limit)
        return {"flags": [await fraud_review.flag_view(c.db, f) for f in flags]}

    @router.post("/fraud-flags/{flag_id}", dependencies=[Depends(admin)])
    async def decide(flag_id: int, body: FraudDecisionIn, c: Ctx) -> dict[str, Any]:
        try:
            flag = await fraud_review.resolve(c.db, flag_id, body.decision, body.note or None,
                                              c.now_ms())
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except fraud_review.AlreadyResolved as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"flag": await fraud_review.flag_view(c.db, flag)}

    @router.post("/members/{member_id}/face-deletion", status_code=202,
                 dependencies=[Depends(admin)])
    async def face_deletion(member_id: str, c: Ctx,
                            everywhere: Annotated[bool, Query()] = False) -> dict[str, Any]:
        """Delete the member's face data on every terminal that holds it (see
        `broker.members.face_deletion`); poll each command for the terminal's confirmation."""
        assert controller.commands is not None
        records = await request_face_deletion(c.db, controller.commands, member_id,
                                              everywhere=everywhere)
        return {"member_id": member_id,
                "commands": [{"device_id": r.device_id, "cmd_id": r.cmd_id, "status": r.status}
                             for r in records]}

    @router.get("/members/{member_id}", dependencies=[Depends(admin)])
    async def member(member_id: str, c: Ctx) -> dict[str, Any]:
        view = await member_view(c, member_id)
        if view is None:
            raise HTTPException(404, f"no member {member_id!r}")
        return view

    return router
