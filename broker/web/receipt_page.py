"""The e-receipt page: `GET /r/{token}`, opened by the shopper's phone from the terminal's QR.

No login: the signed token (`broker.members.ereceipt`) is the capability. A tampered or unknown
token is 404, an expired one 410. Every answer is private and not to be stored, indexed or
leaked through a Referer (the URL is the capability).
"""

from pathlib import Path

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from broker.controller import Controller
from broker.members.ereceipt import EReceiptTokenError

TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True))
HEADERS = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex",
           "Referrer-Policy": "no-referrer"}
PROBLEMS = {
    404: ("Receipt not found", "收据不存在",
          "This receipt link is not valid. Please scan the QR code on the terminal again."),
    410: ("Receipt link expired", "收据链接已过期",
          "This receipt link has expired. Ask the store for a copy of your receipt."),
    503: ("Receipts unavailable", "暂时无法查看",
          "Receipts cannot be shown right now. Please try again later."),
}


def receipt_router(controller: Controller) -> APIRouter:
    router = APIRouter(tags=["receipts"])

    def problem(request: Request, status: int) -> HTMLResponse:
        title, title_zh, message = PROBLEMS[status]
        return TEMPLATES.TemplateResponse(
            request, "ereceipt.html", {"receipt": None, "title": title, "title_zh": title_zh,
                                       "message": message},
            status_code=status, headers=HEADERS)

    @router.get("/r/{token}", response_class=HTMLResponse)
    async def receipt(request: Request, token: str) -> HTMLResponse:
        stack = controller.checkout
        if stack is None or stack.ereceipts is None:
            return problem(request, 503)
        try:
            view = await stack.ereceipts.open(token)
        except EReceiptTokenError as exc:
            return problem(request, 410 if exc.reason == "expired" else 404)
        if view is None:
            return problem(request, 404)
        return TEMPLATES.TemplateResponse(
            request, "ereceipt.html", {"receipt": view, "title": "E-receipt",
                                       "title_zh": "电子小票"},
            headers=HEADERS)

    return router
