"""Checkout HTTP API: the POS creates orders and refunds them; providers post notifications.

`POST /api/orders` (admin token: the store's POS integration) stores the order and tells the
terminal over MQTT (`checkout.order` command); the same idempotency key again returns the same
order (200 instead of 201) and a different order under a used key is a 409.
`POST /pay/notify/{provider}` is called by the payment provider; it carries no token but every
notification is signature-checked before anything is done with it.
"""

# No `from __future__ import annotations`: FastAPI resolves parameter annotations at import.
import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from broker.controller import Controller
from broker.payments.order_input import NewOrder
from broker.payments.runtime import PaymentsRuntime
from broker.payments.service import CheckoutError, order_and_attempt
from broker.storage import payments as pay_db
from broker.storage import refunds as refund_db
from broker.storage.errors import AlreadyExistsError
from broker.web.auth import admin_dependency


class RefundIn(BaseModel):
    amount_fen: int = Field(ge=1)
    out_refund_no: str = Field(pattern=r"^[A-Za-z0-9_.:-]{6,64}$")
    reason: str = Field(default="", max_length=200)


def payments_router(controller: Controller) -> APIRouter:
    router = APIRouter(tags=["checkout"])

    def runtime() -> PaymentsRuntime:
        if controller.payments is None:
            raise HTTPException(503, "payments are not configured or still starting")
        return controller.payments

    admin = admin_dependency(controller)

    Rt = Annotated[PaymentsRuntime, Depends(runtime)]

    @router.post("/api/orders", dependencies=[Depends(admin)])
    async def create_order(request: Request, rt: Rt) -> JSONResponse:
        try:
            new = NewOrder.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(422, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                      for e in exc.errors(include_url=False)]) from exc
        t0 = time.perf_counter()
        try:
            order, created = await rt.create_order(new)
        except CheckoutError as exc:
            raise HTTPException(409 if exc.code == "conflict" else 422, exc.message) from exc
        rt.latency.record("pos.order", order.order_id, time.perf_counter() - t0)
        return JSONResponse({"order": order.view()}, status_code=201 if created else 200)

    @router.get("/api/orders/{order_id}", dependencies=[Depends(admin)])
    async def get_order(order_id: str, rt: Rt) -> dict[str, Any]:
        order = await pay_db.get_order(rt.db, order_id)
        if order is None:
            raise HTTPException(404, f"no order {order_id!r}")
        attempt = await pay_db.latest_attempt(rt.db, order_id)
        out = order_and_attempt(order, attempt)
        out["refunds"] = [_refund(r) for r in await refund_db.refunds_of_order(rt.db, order_id)]
        return out

    @router.post("/api/orders/{order_id}/refunds", dependencies=[Depends(admin)])
    async def refund(order_id: str, body: RefundIn, rt: Rt) -> dict[str, Any]:
        try:
            record = await rt.refunder.refund(order_id, body.amount_fen, body.out_refund_no,
                                              body.reason)
        except (pay_db.OrderStateError, AlreadyExistsError) as exc:
            raise HTTPException(409, str(exc)) from exc
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {"refund": _refund(record)}

    @router.get("/api/payments/reconciliation", dependencies=[Depends(admin)])
    async def reconciliation(rt: Rt, date: dt.date) -> dict[str, Any]:
        report = await rt.reconcile(date)
        return report.as_dict()

    @router.post("/pay/notify/{provider}")
    async def notify(provider: str, request: Request, rt: Rt) -> Response:
        if provider != rt.provider.name:
            raise HTTPException(404, f"no provider {provider!r} here")
        reply = await rt.notifications.handle(dict(request.headers), await request.body())
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    return router


def _refund(r: Any) -> dict[str, Any]:
    return {k: getattr(r, k) for k in r.__dataclass_fields__}
