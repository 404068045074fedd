"""TerminalCheckout against a fake agent whose fake controller keeps docs/checkout.md: exact
params, idempotency keys on every call that changes something (a repeat gets the first answer,
the work is done once), `{order, attempt}` results and the documented error codes."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from kiosk.agent.agent import NotConnectedError
from kiosk.agent.commands import CommandRunner
from kiosk.agent.store import MemoryAgentStore
from kiosk.checkout.service import TerminalCheckout
from kiosk.checkout.states import (
    Cancelled,
    ChoosingMethod,
    Done,
    Failed,
    FlowConfig,
    Idle,
    Joined,
    NeedSecondFactor,
    OfferJoin,
    OrderShown,
    Paying,
    ShowingQr,
    State,
)
from kiosk.wire.messages import Command, CommandAck, ErrorInfo, Event, Request, Response

T0 = 1_700_000_000_000
OID = "oabcdefgh2345"
AUTH = "134567890123456789"
CFG = FlowConfig(face_pay=True)
MUTATING = {"checkout.pay", "checkout.cancel", "member.join", "points.apply", "coupon.apply",
            "receipt.claim"}
PARAMS = {  # method -> (required, optional) params, as docs/checkout.md lists them
    "checkout.pay": ({"order_id", "method"}, {"auth_code", "face", "phone_last4"}),
    "checkout.status": ({"order_id"}, set()),
    "checkout.cancel": ({"order_id", "reason"}, set()),
    "member.offer": ({"order_id"}, set()),
    "member.join": ({"order_id", "confirm"}, set()),
    "points.apply": ({"order_id", "member_id", "points"}, set()),
    "coupon.apply": ({"order_id", "code"}, set()),
}


class VirtualClock:
    """Time that moves only when the test says; `sleep` waits for it."""

    def __init__(self) -> None:
        self.ms = T0
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._n = itertools.count()

    def now_ms(self) -> int:
        return self.ms

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.ms + math.ceil(seconds * 1000), next(self._n), fut))
        await fut

    async def advance(self, ms: int) -> None:
        until = self.ms + ms
        await _quiet()
        while self._sleepers and self._sleepers[0][0] <= until:
            at, _, fut = heapq.heappop(self._sleepers)
            self.ms = max(self.ms, at)
            if not fut.done():
                fut.set_result(None)
            await _quiet()
        self.ms = until
        await _quiet()


async def _quiet() -> None:
    for _ in range(30):  # let woken tasks run their dispatch and the calls they start
        await asyncio.sleep(0)


class FakeController:
    """The controller side of docs/checkout.md for one terminal, scripted per test."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[str, tuple[dict[str, Any], Response]] = {}
        self.outcomes: list[str] = []  # next pays: waiting | paid | declined | unavailable
        self.unknown_polls = 2  # status polls before an unknown outcome turns out paid
        self.phone_last4 = "5678"
        self.offer: dict[str, Any] = {"eligible": False, "brand_id": "freshmart", "points": 0,
                                      "profile": None}
        self.log: list[tuple[int, Request]] = []
        self.refused: list[str] = []  # requests that broke the contract
        self.key_reuse: list[str] = []  # a key sent again with other params

    def new_order(self, now: int, oid: str = OID, **kw: Any) -> dict[str, Any]:
        self.orders[oid] = {
            "order_id": oid, "store_id": "sh-01", "device_id": "t-1", "brand_id": "freshmart",
            "items": [{"sku": "A1", "name": "Milk", "qty": 2, "unit_fen": 650,
                       "category": "dairy"}],
            "amount_fen": 1300, "discount_fen": 0, "payable_fen": 1300, "state": "open",
            "member_id": None, "points_used": 0, "coupon_code": None, "created_ms": now,
            "expires_ms": now + 15 * 60_000} | kw
        self.attempts[oid] = []
        return dict(self.orders[oid])

    def latest(self, oid: str) -> dict[str, Any] | None:
        return self.attempts[oid][-1] if self.attempts.get(oid) else None

    def pays(self) -> list[Request]:
        return [r for _, r in self.log if r.method == "checkout.pay"]

    def calls(self, method: str) -> list[tuple[int, Request]]:
        return [(t, r) for t, r in self.log if r.method == method]

    # -- the contract ---------------------------------------------------------------------

    def handle(self, req: Request, now: int) -> Response:
        self.log.append((now, req))
        if req.method not in PARAMS:
            return self._refuse(f"unknown method {req.method}")
        required, optional = PARAMS[req.method]
        if not required <= req.params.keys() <= required | optional:
            return self._refuse(f"{req.method} params {sorted(req.params)}")
        if req.method in MUTATING:
            if req.idempotency_key is None:
                return self._refuse(f"{req.method} without idempotency_key")
            first = self.answers.get(req.idempotency_key)
            if first is not None:
                if first[0] != req.params:
                    self.key_reuse.append(req.idempotency_key)
                return first[1]
        oid = req.params["order_id"]
        if oid not in self.orders:
            return _err("not_found", f"no order {oid}")
        response: Response = getattr(self, "_" + req.method.replace(".", "_"))(
            oid, req.params, now)
        if req.idempotency_key is not None:
            self.answers[req.idempotency_key] = (dict(req.params), response)
        return response

    def _refuse(self, why: str) -> Response:
        self.refused.append(why)
        return _err("bad_request", why)

    def _both(self, oid: str) -> Response:
        return _ok({"order": dict(self.orders[oid]), "attempt": self.latest(oid)})

    def _checkout_pay(self, oid: str, p: dict[str, Any], now: int) -> Response:
        order, method = self.orders[oid], p["method"]
        live = self.latest(oid)
        if order["state"] not in ("open", "paying") or (live and live["state"] in (
                "pending", "waiting")):
            return _err("conflict", f"order {oid} is {order['state']}")
        if method == "code" and not str(p.get("auth_code", "")).isdigit():
            return self._refuse("code pay without auth_code")
        if method == "face":
            face_keys = set(p.get("face") or {})
            if not {"member_id", "distance", "margin"} <= face_keys <= {
                    "member_id", "distance", "margin", "gallery_size"}:
                return self._refuse(f"face params {p.get('face')}")
            if p["face"]["distance"] > 0.35 and p.get("phone_last4") != self.phone_last4:
                return _err("second_factor_required", "enter the last four digits")
        outcome = self.outcomes.pop(0) if self.outcomes else (
            "waiting" if method == "native" else "paid")
        n = len(self.attempts[oid]) + 1
        attempt: dict[str, Any] = {
            "out_trade_no": f"{oid}-{n}", "method": method, "state": "pending",
            "code_url": None, "expires_ms": now + 120_000, "error": None}
        if method == "native":
            attempt["code_url"] = f"weixin://wxpay/bizpayurl?pr={oid}{n}"
        self.attempts[oid].append(attempt)
        if outcome == "declined":
            attempt.update(state="failed", error="NOTENOUGH")
            return _err("declined", "NOTENOUGH: insufficient balance")
        order["state"] = "paying"
        if outcome == "unavailable":
            attempt["polls_left"] = self.unknown_polls
            return _err("unavailable", "the provider did not answer")
        attempt["state"] = outcome
        if outcome == "paid":
            order["state"] = "paid"
        return self._both(oid)

    def _checkout_status(self, oid: str, p: dict[str, Any], now: int) -> Response:
        attempt = self.latest(oid)
        if attempt is not None and "polls_left" in attempt:
            attempt["polls_left"] -= 1
            if attempt["polls_left"] < 0:
                del attempt["polls_left"]
                attempt["state"] = "paid"
                self.orders[oid]["state"] = "paid"
        return self._both(oid)

    def _checkout_cancel(self, oid: str, p: dict[str, Any], now: int) -> Response:
        order, attempt = self.orders[oid], self.latest(oid)
        if order["state"] == "paid":
            return _ok({"order": dict(order)})
        if attempt is not None and attempt["state"] in ("pending", "waiting"):
            attempt["state"] = "closed" if attempt["method"] == "native" else "reversed"
        order["state"] = "closed"
        return _ok({"order": dict(order)})

    def _member_offer(self, oid: str, p: dict[str, Any], now: int) -> Response:
        return _ok(dict(self.offer))

    def _member_join(self, oid: str, p: dict[str, Any], now: int) -> Response:
        if p["confirm"] is not True or self.orders[oid]["state"] != "paid":
            return _err("conflict", "not paid")
        points = self.orders[oid]["payable_fen"] // 100
        return _ok({"member_id": "m-00000007", "brand_id": "freshmart", "points_credited": points,
                    "balance": points, "coupon": {"code": "WELCOME5", "value_fen": 500}})

    def _points_apply(self, oid: str, p: dict[str, Any], now: int) -> Response:
        order = self.orders[oid]
        order.update(discount_fen=p["points"], points_used=p["points"],
                     payable_fen=order["amount_fen"] - p["points"])
        return _ok({"order": dict(order)})

    def _coupon_apply(self, oid: str, p: dict[str, Any], now: int) -> Response:
        return _err("expired", "coupon expired")

    # -- the controller's own moves -------------------------------------------------------

    def scanned_and_paid(self, oid: str = OID) -> dict[str, Any]:
        """The shopper paid the QR: the notification arrived; returns checkout.update args."""
        attempt = self.latest(oid)
        assert attempt is not None
        attempt["state"] = "paid"
        self.orders[oid]["state"] = "paid"
        return {"order": dict(self.orders[oid]), "attempt": dict(attempt)}


def _ok(result: dict[str, Any]) -> Response:
    return Response(ok=True, result=result)


def _err(code: str, message: str) -> Response:
    return Response(ok=False, error=ErrorInfo(code=code, message=message))


class FakeAgent:
    """The part of KioskAgent the checkout uses, with a real CommandRunner for commands."""

    def __init__(self, controller: FakeController, clock: VirtualClock) -> None:
        self.controller = controller
        self.clock = clock
        self.commands = CommandRunner(MemoryAgentStore(), clock.now_ms)
        self.recorded: list[tuple[str, dict[str, Any]]] = []
        self.offline = False
        self.lose_answers = 0  # the controller does the work, the answer never arrives
        self.timeouts: list[float] = []
        self._cmd = itertools.count(1)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float = 10.0, idempotency_key: str | None = None) -> Response:
        self.timeouts.append(timeout)
        if self.offline:
            raise NotConnectedError("not connected to the controller")
        req = Request(method=method, params=params or {}, idempotency_key=idempotency_key)
        response = self.controller.handle(req, self.clock.now_ms())
        if self.lose_answers:
            self.lose_answers -= 1
            raise TimeoutError
        return response

    async def record(self, type_: str, data: dict[str, Any] | None = None) -> int:
        Event(seq=1, ts_ms=self.now_ms(), type=type_, data=data or {})  # what record checks
        self.recorded.append((type_, data or {}))
        return len(self.recorded)

    def types(self) -> list[str]:
        return [t for t, _ in self.recorded]

    async def command(self, name: str, args: dict[str, Any]) -> CommandAck:
        now = self.now_ms()
        acks: list[CommandAck] = []

        async def send(ack: CommandAck) -> None:
            acks.append(ack)

        cmd = Command(cmd_id=f"cmd-{next(self._cmd):05d}", name=name, args=args,
                      issued_ms=now, expires_ms=now + 60_000)
        await self.commands.handle(cmd, send)
        await _quiet()
        return acks[-1]


@dataclass
class Rig:
    checkout: TerminalCheckout
    agent: FakeAgent
    controller: FakeController
    clock: VirtualClock
    seen: list[State]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = VirtualClock()
    controller = FakeController()
    agent = FakeAgent(controller, clock)
    checkout = TerminalCheckout(agent, config=CFG, sleep=clock.sleep, retries=2,
                                retry_delay_s=1.0, request_timeout_s=5.0)
    seen: list[State] = []
    checkout.add_listener(lambda state, messages: seen.append(state))
    yield Rig(checkout, agent, controller, clock, seen)
    await checkout.aclose()


def paid_and_done(r: Rig) -> bool:
    """Paid (recorded once), and with no membership offer the flow is done."""
    state = r.checkout.state
    return (r.agent.types().count("checkout.paid") == 1 and isinstance(state, Done)
            and state.outcome == "paid")


async def order_shown(rig: Rig, **kw: Any) -> None:
    ack = await rig.agent.command("checkout.order", {"order": rig.controller.new_order(
        rig.agent.now_ms(), **kw)})
    assert ack.status == "done" and ack.result is not None and ack.result["shown"] is True
    assert isinstance(rig.checkout.state, OrderShown)


async def test_qr_paid_then_join_with_prefilled_profile(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.start_payment()
    await rig.checkout.choose_method("native")
    await _quiet()
    assert isinstance(rig.checkout.state, ShowingQr)
    assert rig.checkout.state.code_url == f"weixin://wxpay/bizpayurl?pr={OID}1"
    [pay] = rig.controller.pays()
    assert pay.params == {"order_id": OID, "method": "native"}
    assert pay.idempotency_key == f"{OID}:pay:1"
    rig.controller.offer = {"eligible": True, "brand_id": "freshmart", "points": 13, "profile": {
        "display_name": "Li Wei", "masked_phone": "138****5678", "brands": ["teahouse"]}}
    ack = await rig.agent.command("checkout.update", rig.controller.scanned_and_paid())
    assert ack.status == "done"
    assert isinstance(rig.checkout.state, OfferJoin)
    assert rig.checkout.state.offer.profile is not None
    assert rig.checkout.state.offer.profile.display_name == "Li Wei"
    await rig.checkout.tap_join()  # shows the profile
    assert isinstance(rig.checkout.state, OfferJoin) and rig.checkout.state.confirming
    assert rig.controller.calls("member.join") == []
    await rig.checkout.tap_join()  # confirms
    await _quiet()
    state = rig.checkout.state
    assert isinstance(state, Joined) and state.result.points_credited == 13
    [(_, join)] = rig.controller.calls("member.join")
    assert join.params == {"order_id": OID, "confirm": True} and join.idempotency_key
    assert rig.agent.types() == ["checkout.paid", "member.offered", "member.joined"]
    assert rig.checkout.last_message is not None and rig.checkout.last_message.code == "joined"
    await rig.clock.advance(CFG.joined_ms)
    assert isinstance(rig.checkout.state, Idle)
    names = [type(s).__name__ for s in rig.seen]
    assert names[:3] == ["OrderShown", "ChoosingMethod", "Paying"]
    assert names[-3:] == ["Joining", "Joined", "Idle"]
    assert rig.controller.refused == [] and rig.controller.key_reuse == []


async def test_a_lost_answer_is_retried_with_the_same_key_and_charged_once(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.choose_method("code")
    rig.agent.lose_answers = 1
    await rig.checkout.scan_code(AUTH)
    await _quiet()
    assert isinstance(rig.checkout.state, Paying)  # the answer was lost
    await rig.clock.advance(1_000)  # retry delay
    assert paid_and_done(rig)
    keys = [p.idempotency_key for p in rig.controller.pays()]
    assert keys == [f"{OID}:pay:1"] * 2
    assert len(rig.controller.attempts[OID]) == 1  # the work was done once


async def test_unknown_outcome_polls_status_at_the_interval_never_pays_again(rig: Rig) -> None:
    rig.controller.outcomes = ["unavailable"]
    rig.controller.unknown_polls = 3
    await order_shown(rig)
    await rig.checkout.choose_method("code")
    await rig.checkout.scan_code(AUTH)
    await _quiet()
    assert isinstance(rig.checkout.state, Paying) and rig.checkout.state.phase == "unknown"
    assert rig.checkout.last_message is not None and rig.checkout.last_message.code == "checking"
    for _ in range(4):
        await rig.clock.advance(CFG.poll_ms)
    assert paid_and_done(rig)
    polls = [t for t, _ in rig.controller.calls("checkout.status")]
    assert len(polls) == 4 and {b - a for a, b in itertools.pairwise(polls)} == {CFG.poll_ms}
    assert len(rig.controller.pays()) == 1


async def test_link_down_longer_than_the_retries_sends_the_same_pay_later(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.choose_method("code")
    rig.agent.offline = True
    await rig.checkout.scan_code(AUTH)
    await rig.clock.advance(2_000)  # two retries, then the flow hears "unreachable"
    assert isinstance(rig.checkout.state, Paying) and rig.checkout.state.phase == "resend"
    rig.agent.offline = False
    await rig.clock.advance(CFG.poll_ms)
    assert paid_and_done(rig)
    [pay] = rig.controller.pays()  # offline tries never reached it; the resend did
    assert pay.idempotency_key == f"{OID}:pay:1"
    assert rig.agent.timeouts and set(rig.agent.timeouts) == {5.0}


async def test_qr_expiry_closes_the_order_and_returns_to_idle(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.choose_method("native")
    await _quiet()
    assert isinstance(rig.checkout.state, ShowingQr)
    await rig.clock.advance(120_000)
    assert isinstance(rig.checkout.state, Cancelled) and rig.checkout.state.reason == "qr_expired"
    [(_, cancel)] = rig.controller.calls("checkout.cancel")
    assert cancel.params == {"order_id": OID, "reason": "qr_expired"}
    assert rig.controller.orders[OID]["state"] == "closed"
    assert rig.controller.attempts[OID][-1]["state"] == "closed"
    assert "checkout.cancelled" in rig.agent.types()
    await rig.clock.advance(CFG.done_ms)
    assert isinstance(rig.checkout.state, Idle)
    assert rig.checkout.pending_timers() == {}


async def test_face_second_factor_then_fallback_after_three_wrong(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.consent_face()
    await rig.checkout.start_payment()
    assert isinstance(rig.checkout.state, ChoosingMethod) and "face" in rig.checkout.state.methods
    await rig.checkout.choose_method("face")
    await rig.checkout.face_matched("m-00000042", 0.4, 0.05)
    await _quiet()
    assert isinstance(rig.checkout.state, NeedSecondFactor)
    for _ in range(3):
        await rig.checkout.enter_last4("0000")
        await _quiet()
    assert isinstance(rig.checkout.state, ChoosingMethod)
    assert rig.checkout.state.methods == ("native", "code")
    assert rig.controller.refused == [] and rig.controller.key_reuse == []
    assert len({p.idempotency_key for p in rig.controller.pays()}) == 4


async def test_face_second_factor_right_digits_pays(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.consent_face()
    await rig.checkout.choose_method("face")
    await rig.checkout.face_matched("m-00000042", 0.4, 0.05)
    await _quiet()
    await rig.checkout.enter_last4("5678")
    await _quiet()
    assert paid_and_done(rig)
    assert rig.controller.pays()[-1].params["phone_last4"] == "5678"


async def test_declined_then_qr(rig: Rig) -> None:
    rig.controller.outcomes = ["declined"]
    await order_shown(rig)
    await rig.checkout.choose_method("code")
    await rig.checkout.scan_code(AUTH)
    await _quiet()
    assert isinstance(rig.checkout.state, Failed) and "insufficient" in rig.checkout.state.reason
    await rig.checkout.choose_method("native")
    await _quiet()
    assert isinstance(rig.checkout.state, ShowingQr)
    assert [p.idempotency_key for p in rig.controller.pays()] == [f"{OID}:pay:1", f"{OID}:pay:2"]
    assert "checkout.failed" in rig.agent.types()


async def test_points_and_a_refused_coupon(rig: Rig) -> None:
    await order_shown(rig, member_id="m-00000007")
    await rig.checkout.apply_points(300)
    await _quiet()
    state = rig.checkout.state
    assert isinstance(state, OrderShown) and state.order.payable_fen == 1000
    await rig.checkout.apply_coupon("SPRING")
    await _quiet()
    assert rig.checkout.last_message is not None and rig.checkout.last_message.kind == "error"
    after = rig.checkout.state
    assert isinstance(after, OrderShown) and after.order == state.order  # the amount stays
    assert rig.controller.refused == []


async def test_shopper_cancel_closes_the_order(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.start_payment()
    await rig.checkout.cancel()
    await _quiet()
    assert isinstance(rig.checkout.state, Cancelled)
    assert rig.controller.orders[OID]["state"] == "closed"
    assert rig.controller.calls("checkout.cancel")[0][1].params["reason"] == "shopper"


async def test_malformed_commands_are_refused_and_change_nothing(rig: Rig) -> None:
    ack = await rig.agent.command("checkout.order", {"order": {"order_id": OID}})
    assert ack.status == "failed" and "order" in (ack.error or "")
    order = rig.controller.new_order(T0)
    ack = await rig.agent.command("checkout.update", {"order": order, "attempt": "paid"})
    assert ack.status == "failed"
    assert isinstance(rig.checkout.state, Idle) and rig.controller.log == []


async def test_an_order_already_paid_is_not_shown(rig: Rig) -> None:
    ack = await rig.agent.command("checkout.order", {
        "order": rig.controller.new_order(T0, state="paid")})
    assert ack.status == "done" and ack.result is not None and ack.result["shown"] is False
    assert isinstance(rig.checkout.state, Idle)


async def test_no_retry_once_the_shopper_has_moved_on(rig: Rig) -> None:
    rig.controller.outcomes = ["waiting"]  # the shopper is asked to confirm on the phone
    await order_shown(rig)
    await rig.checkout.choose_method("code")
    rig.agent.lose_answers = 1
    await rig.checkout.scan_code(AUTH)
    await _quiet()
    await rig.checkout.cancel()  # while the pay's answer is being retried
    await _quiet()
    assert isinstance(rig.checkout.state, Cancelled)
    await rig.clock.advance(5_000)
    assert len(rig.controller.pays()) == 1  # the retry was dropped: nobody waits for it
    assert rig.controller.attempts[OID][-1]["state"] == "reversed"


async def test_the_next_order_waits_for_the_payment_in_progress(rig: Rig) -> None:
    await order_shown(rig)
    await rig.checkout.choose_method("native")
    await _quiet()
    second = "oqrstuvwx6723"
    ack = await rig.agent.command("checkout.order", {
        "order": rig.controller.new_order(rig.clock.now_ms(), second)})
    assert ack.result is not None and ack.result["queued"] is True
    assert isinstance(rig.checkout.state, ShowingQr)
    await rig.agent.command("checkout.update", rig.controller.scanned_and_paid())
    await rig.clock.advance(CFG.done_ms)
    state = rig.checkout.state
    assert isinstance(state, OrderShown) and state.order.order_id == second
