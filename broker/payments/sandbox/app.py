"""The sandbox as an ASGI app (Starlette): WeChat Pay v3 under `/v3/…`, the payer's wallet page
under `/wallet`, and a JSON admin API for tests, demos and benchmarks under `/sandbox/…`.

Every `/v3` request must carry a valid merchant `Authorization` (401 SIGN_ERROR otherwise);
every `/v3` response is signed with the platform key (`Wechatpay-*` headers) so the SDK's
signature check passes; refusals are `{"code", "message"}` with WeChat's HTTP statuses.
Endpoint faults (delay, 500 without effect, timeout with effect, PAYERROR) apply to `/v3`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from broker.payments import wechat_crypto as wc
from broker.payments.sandbox.book import Book
from broker.payments.sandbox.clock import SandboxClock, wall_s
from broker.payments.sandbox.faults import Fault, FaultPlan
from broker.payments.sandbox.keys import SandboxKeys
from broker.payments.sandbox.notifier import WECHAT_RETRY_DELAYS_MS, Notifier
from broker.payments.sandbox.records import BookError


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    refund_delay_ms: int = 1_000
    codepay_revoke_ms: int = 45_000
    native_expire_ms: int = 2 * 3600_000
    default_balance_fen: int = 10**10
    notify_retry_delays_ms: Sequence[int] = WECHAT_RETRY_DELAYS_MS
    notify_timeout_s: float = 5.0
    tick_ms: int = 100  # how often timers (refunds completing…) are fired without a request
    seed: int = 0


class Sandbox:
    """The sandbox's state, shared by its routes."""

    def __init__(self, keys: SandboxKeys, config: SandboxConfig | None = None,
                 clock: SandboxClock | None = None) -> None:
        self.keys = keys
        self.config = config = config or SandboxConfig()
        self.clock = clock or SandboxClock()
        self.book = Book(refund_delay_ms=config.refund_delay_ms,
                         codepay_revoke_ms=config.codepay_revoke_ms,
                         native_expire_ms=config.native_expire_ms,
                         default_balance_fen=config.default_balance_fen)
        for m in keys.merchants:
            self.book.wallets.add_merchant(m.mchid, m.appid, m.name)
        self.faults = FaultPlan(config.seed)
        self.notifier = Notifier(keys, self.faults, self.clock,
                                 retry_delays_ms=config.notify_retry_delays_ms,
                                 timeout_s=config.notify_timeout_s)
        self.bills: dict[str, tuple[str, bytes, bool]] = {}  # token → (mchid, csv, gzip)
        self._merchant_keys = {m.mchid: wc.load_public_key(m.public_key)
                               for m in keys.merchants}
        self._platform_key = wc.load_private_key(keys.platform_private_key)
        self._ticker: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults = self.notifier.faults = plan

    def dispatch(self) -> None:
        """Fire due timers and send the notifications the book has emitted."""
        self.book.advance(self.now_ms())
        for event in self.book.drain_events():
            self.notifier.submit(event)

    async def start(self) -> None:
        await self.notifier.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.notifier.aclose()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_ms / 1000)
            self.dispatch()

    def verify(self, request: Request, body: bytes) -> str:
        """The mchid of a correctly signed request; raises `wc.AuthError`."""
        path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        full = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        auth = wc.verify_request(request.headers.get("authorization"), method=request.method,
                                 path=full, body=body, public_key_for=self._merchant_keys.get,
                                 now_s=wall_s())
        return auth.mchid

    def signed(self, status: int, body: bytes, content_type: str = "application/json") -> Response:
        headers = wc.signed_headers(self._platform_key, self.keys.public_key_id, body,
                                    timestamp_s=wall_s())
        headers["Request-ID"] = wc.new_nonce(24)
        return Response(body, status, headers=headers,
                        media_type=content_type if body else None)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


@dataclass(slots=True)
class V3Call:
    """One authenticated v3 request, as the endpoint handlers see it."""

    request: Request
    mchid: str
    data: dict[str, Any]
    now_ms: int
    refuse: bool  # a PAYERROR fault: the bank refuses this payment

    def field(self, *path: str) -> Any:
        value: Any = self.data
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if value is None or value == "":
            raise BookError("PARAM_ERROR", f"missing {'.'.join(path)}")
        return value


# What a handler returns: (status, a JSON object, raw bytes (a bill file) or None (no content)).
V3Result = tuple[int, dict[str, Any] | bytes | None]
V3Handler = Callable[[Sandbox, V3Call], Awaitable[V3Result]]


def v3_route(sandbox: Sandbox, path: str, methods: list[str], endpoint: str,
             handler: V3Handler) -> Route:
    async def run(request: Request) -> Response:
        body = await request.body()
        try:
            mchid = sandbox.verify(request, body)
        except wc.AuthError as e:
            return sandbox.signed(401, orjson.dumps(error_body("SIGN_ERROR",
                                                               f"签名错误 ({e.reason})")))
        decision = sandbox.faults.decide(endpoint)
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        if decision.fault is Fault.ERROR:
            return sandbox.signed(500, orjson.dumps(error_body("SYSTEM_ERROR",
                                                               "系统错误 (sandbox fault)")))
        try:
            data = orjson.loads(body) if body else {}
            if not isinstance(data, dict):
                raise BookError("PARAM_ERROR", "the body must be a JSON object")
            call = V3Call(request, mchid, data, sandbox.now_ms(),
                          refuse=decision.fault is Fault.PAYERROR)
            status, payload = await handler(sandbox, call)
        except orjson.JSONDecodeError:
            status, payload = 400, error_body("PARAM_ERROR", "the body is not JSON")
        except ValueError as e:
            status, payload = 400, error_body("PARAM_ERROR", str(e))
        except BookError as e:
            status, payload = e.status, error_body(e.code, e.message)
        sandbox.dispatch()
        if isinstance(payload, dict):
            response = sandbox.signed(status, orjson.dumps(payload))
        else:
            response = sandbox.signed(status, payload or b"", "application/octet-stream")
        if decision.fault is Fault.TIMEOUT:  # applied; the client gives up before the answer
            await asyncio.sleep(sandbox.faults.hang_ms / 1000)
        return response

    return Route(path, run, methods=methods)


def create_app(sandbox: Sandbox) -> Starlette:
    from broker.payments.sandbox import admin_api, v3_api, wallet_page

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.aclose()

    routes: list[BaseRoute] = [*v3_api.routes(sandbox), *wallet_page.routes(sandbox),
                               *admin_api.routes(sandbox)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
