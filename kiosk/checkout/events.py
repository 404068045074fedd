"""Events into the checkout flow and effects out of it (plain data, no I/O).

Every event carries `now_ms` (the flow never reads a clock). Controller answers come back as
`Reply`, matched to the call by `tag`; `UNREACHABLE` is the terminal's own code for a call
whose answer never came (link down, timeouts) after the service's retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

UNREACHABLE = "unreachable"
BAD_RESPONSE = "bad_response"


# ---- events -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Event:
    now_ms: int


@dataclass(frozen=True, kw_only=True)
class OrderPushed(Event):
    """`checkout.order` command: a new order for this terminal."""

    order: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OrderUpdated(Event):
    """`checkout.update` command: the order or its attempt changed at the controller."""

    order: dict[str, Any]
    attempt: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Reply(Event):
    """The answer to the `CallController` effect with the same tag."""

    tag: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None  # Response.error.code, or UNREACHABLE
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class TimerFired(Event):
    name: str


@dataclass(frozen=True, kw_only=True)
class StartPayment(Event):
    """Tap "Pay" on the order screen."""


@dataclass(frozen=True, kw_only=True)
class ApplyPoints(Event):
    points: int


@dataclass(frozen=True, kw_only=True)
class ApplyCoupon(Event):
    code: str


@dataclass(frozen=True, kw_only=True)
class FaceConsent(Event):
    """The shopper agreed (or withdrew) to let the camera look for their face to pay."""

    given: bool = True


@dataclass(frozen=True, kw_only=True)
class ChooseMethod(Event):
    method: str  # native | code | face


@dataclass(frozen=True, kw_only=True)
class CodeScanned(Event):
    auth_code: str


@dataclass(frozen=True, kw_only=True)
class FaceMatched(Event):
    member_id: str
    distance: float
    margin: float
    gallery_size: int = 1  # enrolled members searched: large galleries ask for a second factor


@dataclass(frozen=True, kw_only=True)
class EnterLast4(Event):
    digits: str


@dataclass(frozen=True, kw_only=True)
class TapJoin(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class DeclineJoin(Event):
    pass


@dataclass(frozen=True, kw_only=True)
class Back(Event):
    """Back to the previous choice (camera screens, a failed payment, the method list)."""


@dataclass(frozen=True, kw_only=True)
class Cancel(Event):
    """The shopper cancels the checkout (closes the order), or closes a final screen."""


# ---- effects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallController:
    """A request to the controller. `idempotency_key` is set on every call that changes
    something; a retry of the same call reuses it. `tag` matches the `Reply`."""

    method: str
    params: dict[str, Any]
    idempotency_key: str | None
    tag: str


@dataclass(frozen=True)
class ShowMessage:
    code: str  # a stable key for the UI's translations
    text: str
    kind: Literal["info", "error"] = "info"


@dataclass(frozen=True)
class StartTimer:
    """Fire `TimerFired(name)` at `at_ms`; replaces a pending timer of the same name."""

    name: str
    at_ms: int


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class RecordEvent:
    """An engagement event for the outbox (`agent.record`)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


Effect = CallController | ShowMessage | StartTimer | CancelTimer | RecordEvent
