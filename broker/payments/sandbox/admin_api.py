"""The sandbox's JSON admin API for tests, demos and benchmarks, under `/sandbox/…` (apart from
the `/v3` API: no signatures, no faults). Errors are `{"code", "message"}` like the v3 API.

| method and path | body → answer |
|---|---|
| GET /sandbox/merchants | → `[{"mchid", "appid", "name", "balance_fen"}]` |
| GET /sandbox/payers | → `[{"payer_id", "name", "balance_fen"}]` |
| POST /sandbox/payers | `{"name", "balance_fen", "payer_id"?}` → 201 payer |
| POST /sandbox/payers/{payer_id}/codes | `{"tail"?: "00"}` → 201 `{"auth_code"}` (see auth_codes) |
| POST /sandbox/scan | `{"code_url", "payer_id"?, "approve"?: true}` → the v3 transaction |
| POST /sandbox/trades/{mchid}/{out_trade_no}/confirm | `{"approve": bool}` → transaction |
| GET /sandbox/trades?mchid=&state= | → `{"trades": [transaction…]}` |
| POST /sandbox/contracts | `{"mchid", "payer_id", "plan_id"?}` → 201 contract |
| DELETE /sandbox/contracts/{contract_id} | → the contract, now inactive |
| GET, PUT, DELETE /sandbox/faults | the fault plan (see faults.FaultPlan.from_json) |
| GET /sandbox/notifications?out_trade_no= | → `{"notifications": [delivery…]}` |
| GET, POST /sandbox/clock | `{"advance_ms"}` → `{"now_ms"}` (moves the business clock) |
| GET /sandbox/wallet-url?code_url= | → `{"wallet_url"}` |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.payments.sandbox import wire
from broker.payments.sandbox.app import Sandbox
from broker.payments.sandbox.faults import FaultPlan
from broker.payments.sandbox.records import DEFAULT_PAYER_ID, BookError, Contract, Payer
from broker.payments.sandbox.wallet_page import wallet_url

Handler = Callable[[Sandbox, Request, dict[str, Any]], Awaitable[tuple[int, Any]]]


def _payer(p: Payer) -> dict[str, Any]:
    return {"payer_id": p.payer_id, "name": p.name, "balance_fen": p.balance_fen}


def _contract(c: Contract) -> dict[str, Any]:
    return {"contract_id": c.contract_id, "mchid": c.mchid, "payer_id": c.payer_id,
            "plan_id": c.plan_id, "active": c.active}


def _need(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BookError("PARAM_ERROR", f"{name} must be a {kind.__name__}")
    return value


async def merchants(sb: Sandbox, _r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    return 200, [{"mchid": m.mchid, "appid": m.appid, "name": m.name,
                  "balance_fen": m.balance_fen} for m in sb.book.wallets.merchants.values()]


async def payers(sb: Sandbox, _r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    return 200, [_payer(p) for p in sb.book.wallets.payers.values()]


async def add_payer(sb: Sandbox, _r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    payer = sb.book.wallets.add_payer(_need(d, "name", str), _need(d, "balance_fen", int),
                                      payer_id=d.get("payer_id") or None)
    return 201, _payer(payer)


async def issue_code(sb: Sandbox, r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    try:
        code = sb.book.wallets.issue_code(r.path_params["payer_id"], str(d.get("tail", "00")))
    except ValueError as e:
        raise BookError("PARAM_ERROR", str(e)) from None
    return 201, {"auth_code": code}


async def scan(sb: Sandbox, _r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    code_url = _need(d, "code_url", str)
    if d.get("approve", True) is False:
        return 200, wire.trade_json(sb.book.trade_for_code_url(code_url, sb.now_ms()))
    payer_id = d.get("payer_id") or DEFAULT_PAYER_ID
    return 200, wire.trade_json(sb.book.approve(code_url, payer_id, sb.now_ms()))


async def confirm(sb: Sandbox, r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    p = r.path_params
    trade = sb.book.confirm(p["mchid"], p["out_trade_no"], _need(d, "approve", bool), sb.now_ms())
    return 200, wire.trade_json(trade)


async def trades(sb: Sandbox, r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    sb.book.advance(sb.now_ms())
    mchid, state = r.query_params.get("mchid"), r.query_params.get("state")
    return 200, {"trades": [wire.trade_json(t) for t in sb.book.trades.values()
                            if (not mchid or t.mchid == mchid)
                            and (not state or t.state == state)]}


async def sign_contract(sb: Sandbox, _r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    c = sb.book.wallets.sign_contract(_need(d, "mchid", str), _need(d, "payer_id", str),
                                      sb.now_ms(), plan_id=str(d.get("plan_id", "")))
    return 201, _contract(c)


async def end_contract(sb: Sandbox, r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    return 200, _contract(sb.book.wallets.terminate_contract(r.path_params["contract_id"]))


async def faults(sb: Sandbox, r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    if r.method in ("PUT", "DELETE"):
        try:
            sb.set_faults(FaultPlan.from_json(d if r.method == "PUT" else {}))
        except ValueError as e:
            raise BookError("PARAM_ERROR", str(e)) from None
    return 200, sb.faults.to_json()


async def notifications(sb: Sandbox, r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    no = r.query_params.get("out_trade_no")
    return 200, {"notifications": [d.to_json() for d in sb.notifier.deliveries
                                   if not no or d.out_trade_no == no]}


async def clock(sb: Sandbox, r: Request, d: dict[str, Any]) -> tuple[int, Any]:
    if r.method == "POST":
        advance = _need(d, "advance_ms", int)
        if advance < 0:
            raise BookError("PARAM_ERROR", "advance_ms must be >= 0")
        sb.clock.advance(advance)
        sb.dispatch()
    return 200, {"now_ms": sb.now_ms()}


async def wallet_link(sb: Sandbox, r: Request, _d: dict[str, Any]) -> tuple[int, Any]:
    code_url = r.query_params.get("code_url", "")
    return 200, {"wallet_url": wallet_url(str(r.base_url), code_url)}


def _route(sb: Sandbox, path: str, handler: Handler, methods: list[str]) -> Route:
    async def run(request: Request) -> Response:
        try:
            body = await request.body()
            data = orjson.loads(body) if body else {}
            if not isinstance(data, dict):
                raise BookError("PARAM_ERROR", "the body must be a JSON object")
            status, payload = await handler(sb, request, data)
        except orjson.JSONDecodeError:
            status, payload = 400, {"code": "PARAM_ERROR", "message": "the body is not JSON"}
        except BookError as e:
            status, payload = e.status, {"code": e.code, "message": e.message}
        sb.dispatch()
        return Response(orjson.dumps(payload), status, media_type="application/json")

    return Route(f"/sandbox{path}", run, methods=methods)


def routes(sb: Sandbox) -> list[Route]:
    return [
        _route(sb, "/merchants", merchants, ["GET"]),
        _route(sb, "/payers", payers, ["GET"]),
        _route(sb, "/payers", add_payer, ["POST"]),
        _route(sb, "/payers/{payer_id}/codes", issue_code, ["POST"]),
        _route(sb, "/scan", scan, ["POST"]),
        _route(sb, "/trades/{mchid}/{out_trade_no}/confirm", confirm, ["POST"]),
        _route(sb, "/trades", trades, ["GET"]),
        _route(sb, "/contracts", sign_contract, ["POST"]),
        _route(sb, "/contracts/{contract_id}", end_contract, ["DELETE"]),
        _route(sb, "/faults", faults, ["GET", "PUT", "DELETE"]),
        _route(sb, "/notifications", notifications, ["GET"]),
        _route(sb, "/clock", clock, ["GET", "POST"]),
        _route(sb, "/wallet-url", wallet_link, ["GET"]),
    ]
