"""`TerminalCheckout`: the checkout flow (`flow.step`) driven over the device agent.

- `checkout.order` / `checkout.update` commands from the controller become flow events;
- `CallController` effects become `agent.request` calls; a lost answer (not connected,
  timeout) is retried with the *same* idempotency key a few times, then reported to the flow
  as `unreachable` (which sends the same call again later, or polls `checkout.status`);
- `StartTimer` / `CancelTimer` run on an injectable clock and sleep; `RecordEvent` goes to the
  outbox through `agent.record`; `ShowMessage` and every new state go to the listeners (the UI).

The shopper's taps and the camera come in through the public coroutines (`choose_method`,
`scan_code`, `face_matched`, ...); each returns the state after the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiomqtt

from kiosk.agent.agent import NotConnectedError
from kiosk.checkout import events as ev
from kiosk.checkout.flow import step
from kiosk.checkout.model import Order, parse
from kiosk.checkout.states import FlowConfig, Idle, State, awaiting, screen_name
from kiosk.wire.messages import Response

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Listener = Callable[[State, list[ev.ShowMessage]], None]
LOST = (NotConnectedError, TimeoutError, aiomqtt.MqttError)


class CommandRegistry(Protocol):
    def register(self, name: str, handler: Handler) -> None: ...


class CheckoutAgent(Protocol):
    """What the checkout needs from `KioskAgent`."""

    @property
    def commands(self) -> CommandRegistry: ...

    def now_ms(self) -> int: ...

    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      timeout: float = 10.0, idempotency_key: str | None = None) -> Response: ...

    async def record(self, type_: str, data: dict[str, Any] | None = None) -> int: ...


class TerminalCheckout:
    def __init__(self, agent: CheckoutAgent, *, config: FlowConfig | None = None,
                 clock_ms: Callable[[], int] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 request_timeout_s: float = 8.0, retries: int = 2,
                 retry_delay_s: float = 1.0) -> None:
        self.agent = agent
        self.config = config or FlowConfig()
        self._clock = clock_ms or agent.now_ms
        self._sleep = sleep
        self.request_timeout_s = request_timeout_s
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._state: State = Idle()
        self.last_message: ev.ShowMessage | None = None
        self._listeners: list[Listener] = []
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._calls: set[asyncio.Task[None]] = set()
        agent.commands.register("checkout.order", self._on_order)
        agent.commands.register("checkout.update", self._on_update)
        listeners = getattr(agent, "connect_listeners", None)
        if listeners is not None:
            listeners.append(self.catch_up)

    @property
    def state(self) -> State:
        return self._state

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(state, messages)` after every event that changed the state or
        showed a message; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ---- the shopper and the camera ---------------------------------------------------------

    async def start_payment(self) -> State:
        return await self.dispatch(ev.StartPayment(now_ms=self._clock()))

    async def apply_points(self, points: int) -> State:
        return await self.dispatch(ev.ApplyPoints(points=points, now_ms=self._clock()))

    async def apply_coupon(self, code: str) -> State:
        return await self.dispatch(ev.ApplyCoupon(code=code, now_ms=self._clock()))

    async def consent_face(self, given: bool = True) -> State:
        return await self.dispatch(ev.FaceConsent(given=given, now_ms=self._clock()))

    async def choose_method(self, method: str) -> State:
        return await self.dispatch(ev.ChooseMethod(method=method, now_ms=self._clock()))

    async def scan_code(self, auth_code: str) -> State:
        return await self.dispatch(ev.CodeScanned(auth_code=auth_code, now_ms=self._clock()))

    async def face_matched(self, member_id: str, distance: float, margin: float,
                           gallery_size: int = 1) -> State:
        return await self.dispatch(ev.FaceMatched(member_id=member_id, distance=distance,
                                                  margin=margin, gallery_size=gallery_size,
                                                  now_ms=self._clock()))

    async def enter_last4(self, digits: str) -> State:
        return await self.dispatch(ev.EnterLast4(digits=digits, now_ms=self._clock()))

    async def tap_join(self) -> State:
        return await self.dispatch(ev.TapJoin(now_ms=self._clock()))

    async def decline_join(self) -> State:
        return await self.dispatch(ev.DeclineJoin(now_ms=self._clock()))

    async def back(self) -> State:
        return await self.dispatch(ev.Back(now_ms=self._clock()))

    async def cancel(self) -> State:
        return await self.dispatch(ev.Cancel(now_ms=self._clock()))

    # ---- the machine ------------------------------------------------------------------------

    async def dispatch(self, event: ev.Event) -> State:
        """Apply one event and carry out its effects; returns the new state."""
        old = self._state
        new, effects = step(old, event, self.config)
        self._state = new
        messages = [e for e in effects if isinstance(e, ev.ShowMessage)]
        if messages:
            self.last_message = messages[-1]
        if new != old or messages:
            for listener in list(self._listeners):
                try:
                    listener(new, messages)
                except Exception:  # a broken view must not stop the checkout
                    log.exception("checkout listener failed")
        # timers and calls first, all before any await: a later event cannot get between
        for effect in effects:
            self._start(effect)
        for effect in effects:
            if isinstance(effect, ev.RecordEvent):
                try:
                    await self.agent.record(effect.type, effect.data)
                except ValueError as exc:  # refused at record time: the checkout goes on
                    log.warning("checkout event %s not recorded: %s", effect.type, exc)
        return new

    def _start(self, effect: ev.Effect) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(effect, ev.CallController):
            task = loop.create_task(self._call(effect))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        elif isinstance(effect, ev.StartTimer):
            self._cancel_timer(effect.name)
            self._timers[effect.name] = loop.create_task(self._timer(effect.name, effect.at_ms))
        elif isinstance(effect, ev.CancelTimer):
            self._cancel_timer(effect.name)

    async def _call(self, call: ev.CallController) -> None:
        reply: ev.Reply | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(self.retry_delay_s)
            if awaiting(self._state) != call.tag:  # the flow moved on: nobody wants it
                return
            try:
                response = await self.agent.request(
                    call.method, dict(call.params), timeout=self.request_timeout_s,
                    idempotency_key=call.idempotency_key)
            except LOST as exc:
                log.info("%s (%s): no answer (%s), try %d", call.method, call.tag,
                         type(exc).__name__, attempt + 1)
                continue
            except Exception as exc:  # not sent (e.g. refused by the wire model): a bug
                log.exception("%s (%s) could not be sent", call.method, call.tag)
                reply = ev.Reply(tag=call.tag, ok=False, error="bad_request",
                                 message=f"{type(exc).__name__}: {exc}"[:200],
                                 now_ms=self._clock())
                break
            reply = _reply(call.tag, response, self._clock())
            break
        if reply is None:
            reply = ev.Reply(tag=call.tag, ok=False, error=ev.UNREACHABLE, now_ms=self._clock())
        await self.dispatch(reply)

    async def _timer(self, name: str, at_ms: int) -> None:
        while (left := at_ms - self._clock()) > 0:
            await self._sleep(left / 1000)
        if self._timers.get(name) is asyncio.current_task():
            del self._timers[name]  # before dispatching: the flow may start a new one
        await self.dispatch(ev.TimerFired(name=name, now_ms=self._clock()))

    def _cancel_timer(self, name: str) -> None:
        task = self._timers.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def pending_timers(self) -> dict[str, bool]:
        return {name: not task.done() for name, task in self._timers.items()}

    async def settle(self) -> None:
        """Wait until no controller call is in flight (tests, shutdown)."""
        while self._calls:
            await asyncio.gather(*list(self._calls), return_exceptions=True)

    async def aclose(self) -> None:
        tasks = [*self._timers.values(), *self._calls]
        self._timers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- commands from the controller -------------------------------------------------------

    async def catch_up(self) -> None:
        """After (re)connecting: the orders waiting for this terminal, in case their push was
        lost (a terminal the broker kept no session for)."""
        try:
            response = await self.agent.request("checkout.pending", {},
                                                timeout=self.request_timeout_s)
        except LOST:
            return
        if not response.ok or response.result is None:
            return
        for order in response.result.get("orders", []):
            if isinstance(order, dict) and parse(Order, order) is not None:
                await self.dispatch(ev.OrderPushed(order=order, now_ms=self._clock()))

    async def _on_order(self, args: dict[str, Any]) -> dict[str, Any]:
        order = _order_arg(args)
        state = await self.dispatch(ev.OrderPushed(order=args["order"], now_ms=self._clock()))
        return self._ack(order, state)

    async def _on_update(self, args: dict[str, Any]) -> dict[str, Any]:
        order = _order_arg(args)
        attempt = args.get("attempt")
        if attempt is not None and not isinstance(attempt, dict):
            raise ValueError("checkout.update: attempt must be an object or null")
        state = await self.dispatch(ev.OrderUpdated(order=args["order"], attempt=attempt,
                                                    now_ms=self._clock()))
        return self._ack(order, state)

    @staticmethod
    def _ack(order: Order, state: State) -> dict[str, Any]:
        current = None if isinstance(state, Idle) else state.order.order_id
        queued = None if isinstance(state, Idle) or state.session.queued is None else (
            state.session.queued.order_id)
        shown = order.order_id in (current, queued)
        return {"order_id": order.order_id, "shown": shown, "queued": queued == order.order_id,
                "screen": screen_name(state)}


def _order_arg(args: dict[str, Any]) -> Order:
    order = parse(Order, args.get("order"))
    if order is None:
        raise ValueError("expected {order} with the fields of docs/checkout.md")
    return order


def _reply(tag: str, response: Response, now_ms: int) -> ev.Reply:
    if response.ok:
        return ev.Reply(tag=tag, ok=True, result=dict(response.result or {}), now_ms=now_ms)
    assert response.error is not None  # Response guarantees an error when not ok
    return ev.Reply(tag=tag, ok=False, error=response.error.code,
                    message=response.error.message, now_ms=now_ms)
