"""The sandbox wallet: the page a shopper's phone shows after scanning a native QR.

GET `/wallet?code_url=weixin://…` shows the order (merchant, amount in yuan, description) with
"Pay" and "Decline" buttons and a choice of sandbox payer; POST `/wallet` (an HTML form:
`code_url`, `payer_id`, `action` = `pay` | `decline`) pays or declines and shows the outcome.
Plain server-rendered HTML, no JavaScript. Endpoint faults named `approve` apply to paying.
"""

from __future__ import annotations

import asyncio
from html import escape
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from broker.payments.provider import TradeState
from broker.payments.sandbox.app import Sandbox
from broker.payments.sandbox.bill import yuan
from broker.payments.sandbox.faults import Fault
from broker.payments.sandbox.records import DEFAULT_PAYER_ID, BookError, SandboxTrade

_STYLE = """body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}
.card{border:1px solid #ddd;border-radius:12px;padding:1.25rem}.amount{font-size:2.2rem;
font-weight:600;margin:.5rem 0}.muted{color:#666}button{font-size:1.1rem;padding:.7rem 1.4rem;
margin:.4rem .4rem 0 0;border-radius:8px;border:0}.pay{background:#07c160;color:#fff}
.decline{background:#eee}.ok{color:#07c160}.err{color:#c00}select{font-size:1rem;padding:.3rem}"""


def wallet_url(base_url: str, code_url: str) -> str:
    """The wallet page for a native order (what a demo QR can point a phone at)."""
    return f"{base_url.rstrip('/')}/wallet?code_url={quote(code_url, safe='')}"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=en><meta charset=utf-8>"
                        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
                        f"<title>{escape(title)}</title><style>{_STYLE}</style>"
                        f"<body><h1>Sandbox wallet</h1>{body}</body></html>", status)


def _order(sb: Sandbox, t: SandboxTrade) -> str:
    merchant = sb.book.wallets.merchants[t.mchid].name
    return (f"<p class=muted>{escape(merchant)}</p>"
            f"<p class=amount>¥{yuan(t.amount_fen)}</p>"
            f"<p>{escape(t.description)}</p>"
            f"<p class=muted>Order {escape(t.out_trade_no)} · {escape(str(t.state))}</p>")


def _form(sb: Sandbox, t: SandboxTrade, payer_id: str) -> str:
    options = "".join(
        f"<option value='{escape(p.payer_id, quote=True)}'"
        f"{' selected' if p.payer_id == payer_id else ''}>"
        f"{escape(p.name)} (¥{yuan(p.balance_fen)})</option>"
        for p in sb.book.wallets.payers.values())
    return (f"<form method=post action='/wallet'>"
            f"<input type=hidden name=code_url value='{escape(t.code_url or '', quote=True)}'>"
            f"<p><label>Pay as <select name=payer_id>{options}</select></label></p>"
            f"<button class=pay name=action value=pay>Pay ¥{yuan(t.amount_fen)}</button>"
            f"<button class=decline name=action value=decline>Decline</button></form>")


async def show(request: Request) -> HTMLResponse:
    sb: Sandbox = request.app.state.sandbox
    code_url = request.query_params.get("code_url", "")
    if not code_url:
        return _page("Sandbox wallet", "<form><p><label>Order QR (code_url) "
                     "<input name=code_url size=40></label></p><button>Open</button></form>")
    try:
        trade = sb.book.trade_for_code_url(code_url, sb.now_ms())
    except BookError as e:
        return _page("Unknown order", f"<p class=err>{escape(e.message)}</p>", 404)
    body = _order(sb, trade)
    if trade.state is TradeState.NOTPAY:
        body += _form(sb, trade, request.query_params.get("payer_id", DEFAULT_PAYER_ID))
    return _page("Pay", f"<div class=card>{body}</div>")


async def act(request: Request) -> HTMLResponse:
    sb: Sandbox = request.app.state.sandbox
    form = await request.form()
    code_url = str(form.get("code_url", ""))
    payer_id = str(form.get("payer_id") or DEFAULT_PAYER_ID)
    try:
        trade = sb.book.trade_for_code_url(code_url, sb.now_ms())
        if form.get("action") != "pay":
            note = "<p class=muted>You declined. The order stays open.</p>"
            return _page("Declined", f"<div class=card>{_order(sb, trade)}{note}</div>")
        decision = sb.faults.decide("approve")
        if decision.delay_ms:
            await asyncio.sleep(decision.delay_ms / 1000)
        if decision.fault is Fault.ERROR:
            raise BookError("SYSTEM_ERROR", "Network problem, please try again")
        trade = sb.book.approve(code_url, payer_id, sb.now_ms(),
                                refuse=decision.fault is Fault.PAYERROR)
    except BookError as e:
        return _page("Not paid", f"<p class=err>Not paid: {escape(e.message)}</p>",
                     e.status if e.status >= 400 else 400)
    finally:
        sb.dispatch()
    note = f"<p class=ok>Paid ¥{yuan(trade.amount_fen)}. Thank you!</p>"
    return _page("Paid", f"<div class=card>{_order(sb, trade)}{note}</div>")


def routes(sb: Sandbox) -> list[Route]:
    return [Route("/wallet", show, methods=["GET"]), Route("/wallet", act, methods=["POST"])]
