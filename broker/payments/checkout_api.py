"""Terminal requests of the checkout (MQTT 5 request/response), docs/checkout.md.

Maps `Request.method` to the services and their errors to `Response.error.code`. Parameters
are validated with pydantic; a bad one is `bad_request` naming the field, never an exception
out of the link.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from broker.mqtt_link import request_arrived
from broker.payments.latency import LatencyLog
from broker.payments.order_input import KeypadOrder, PayParams
from broker.payments.service import CheckoutError, CheckoutService, order_and_attempt
from kiosk.wire.messages import ErrorInfo, Request, Response

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[str, Request], Awaitable[dict[str, Any]]]


class OrderRef(BaseModel):
    order_id: str
    reason: str = ""


def ok(result: dict[str, Any]) -> Response:
    return Response(ok=True, result=result)


def error(code: str, message: str) -> Response:
    return Response(ok=False, error=ErrorInfo(code=code, message=message[:1000]))


def _params(model: type[M], request: Request) -> M:
    try:
        return model.model_validate(request.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise CheckoutError("bad_request", f"{where}: {first['msg']}") from None


def _key(request: Request) -> str:
    if request.idempotency_key is None:
        raise CheckoutError("bad_request", f"{request.method} needs an idempotency_key")
    return request.idempotency_key


class CheckoutApi:
    """Routes checkout methods; `extra` adds more (membership, points, receipts)."""

    def __init__(self, service: CheckoutService, *, store_of: Callable[[str], Awaitable[str]],
                 extra: dict[str, Handler] | None = None,
                 latency: LatencyLog | None = None) -> None:
        self.service = service
        self.store_of = store_of
        self.latency = latency or LatencyLog()
        self.handlers: dict[str, Handler] = {
            "checkout.create": self._create,
            "checkout.pay": self._pay,
            "checkout.status": self._status,
            "checkout.cancel": self._cancel,
            "checkout.pending": self._pending,
            **(extra or {}),
        }

    def handles(self, method: str) -> bool:
        return method in self.handlers

    async def answer(self, device_id: str, request: Request) -> Response:
        handler = self.handlers.get(request.method)
        if handler is None:
            return error("unknown_method", f"no method {request.method!r}")
        order_id = request.params.get("order_id")
        with self.latency.measure(request.method, str(order_id or request.method),
                                  since=request_arrived.get()):
            try:
                return ok(await handler(device_id, request))
            except CheckoutError as exc:
                return error(exc.code, exc.message)

    async def _create(self, device_id: str, request: Request) -> dict[str, Any]:
        keyed = _params(KeypadOrder, request)
        store_id = await self.store_of(device_id)
        order, _ = await self.service.keypad_order(device_id, store_id, keyed, _key(request))
        return {"order": order.view()}

    async def _pay(self, device_id: str, request: Request) -> dict[str, Any]:
        params = _params(PayParams, request)
        order, attempt = await self.service.pay(device_id, params, _key(request))
        if attempt.state == "failed":
            raise CheckoutError("declined", attempt.error or "the payment was refused")
        return order_and_attempt(order, attempt)

    async def _status(self, device_id: str, request: Request) -> dict[str, Any]:
        ref = _params(OrderRef, request)
        return order_and_attempt(*await self.service.status(ref.order_id, device_id))

    async def _pending(self, device_id: str, request: Request) -> dict[str, Any]:
        orders = await self.service.pending(device_id)
        return {"orders": [o.view() for o in orders]}

    async def _cancel(self, device_id: str, request: Request) -> dict[str, Any]:
        ref = _params(OrderRef, request)
        return order_and_attempt(*await self.service.cancel(ref.order_id, device_id))
