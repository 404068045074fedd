"""`AppCalls`: the app's own controller calls, their errors, and one coupon per tap."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.agent.agent import NotConnectedError
from kiosk.app.controller_calls import AppCalls, CallFailed
from kiosk.wire.messages import ErrorInfo, Response


class Agent:
    """Answers in turn from `script`: a Response, or an exception to raise."""

    def __init__(self, *script: Response | BaseException) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []

    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float = 10.0, idempotency_key: str | None = None) -> Response:
        self.calls.append((method, dict(params or {}), idempotency_key))
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


COUPON = {"code": "AD4Q-7Z2M-KX", "amount_off_fen": 800}


async def test_a_lost_claim_answer_is_asked_again_with_the_same_key() -> None:
    agent = Agent(TimeoutError(), Response(ok=True, result={"coupon": COUPON}))
    keys = iter(["k-first-tap", "k-second-tap"])
    calls = AppCalls(agent, new_key=lambda: next(keys))
    assert await calls.claim_coupon("autumn-fruit") == COUPON
    assert [c[2] for c in agent.calls] == ["k-first-tap", "k-first-tap"]  # one tap: one key
    agent.script.append(Response(ok=True, result={"coupon": COUPON}))
    await calls.claim_coupon("autumn-fruit")
    assert agent.calls[-1][2] == "k-second-tap"  # a new tap is a new claim


@pytest.mark.parametrize(("answer", "code"), [
    (Response(ok=False, error=ErrorInfo(code="rate_limited", message="slow down")),
     "rate_limited"),
    (Response(ok=True, result={"nothing": 1}), "error"),
    (NotConnectedError("no link"), "offline"),
])
async def test_failures_come_back_as_the_controllers_code(answer: Any, code: str) -> None:
    agent = Agent(answer, answer)
    with pytest.raises(CallFailed) as failed:
        await AppCalls(agent).claim_coupon("autumn-fruit")
    assert failed.value.code == code


async def test_receipt_link_and_ad_offer_pass_their_parameters() -> None:
    link = {"url": "http://shop/r/x", "expires_ms": 5}
    agent = Agent(Response(ok=True, result=link),
                  Response(ok=True, result={"campaign_id": "c1", "coupon": None}))
    calls = AppCalls(agent)
    assert await calls.receipt_link("oabcdefgh2345") == link
    assert (await calls.ad_offer("c1"))["coupon"] is None
    assert [c[:2] for c in agent.calls] == [("receipt.link", {"order_id": "oabcdefgh2345"}),
                                          ("ad.offer", {"campaign_id": "c1"})]
    assert agent.calls[0][2] is None  # reads need no idempotency key
