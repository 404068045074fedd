"""The checkout flow's states (frozen data the UI renders) and its timeouts.

Every state but `Idle` carries the checkout `Session` (the order and the counters that make
idempotency keys), `deadline_ms` (the screen's timeout; a `screen` timer is always pending for
it), `awaiting` (the tag of the one controller answer the state waits for; other answers are
stale and ignored) and `poll_at_ms` (when the `poll` timer next asks the controller again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kiosk.checkout.events import CallController
from kiosk.checkout.model import FaceMatch, JoinResult, Offer, Order

SCREEN = "screen"  # timer names
POLL = "poll"
NATIVE, CODE, FACE = "native", "code", "face"


@dataclass(frozen=True)
class FlowConfig:
    """Timeouts in milliseconds. `face_pay`: face pay is enabled on this terminal."""

    face_pay: bool = False
    order_ms: int = 120_000  # order / method screens with no tap: the order is closed
    scan_ms: int = 45_000  # camera waiting for a payment code or a face
    second_factor_ms: int = 30_000
    pay_ms: int = 90_000  # longest wait for a payment result before closing the attempt
    poll_ms: int = 2_000  # checkout.status interval while waiting or the outcome is unknown
    qr_ms: int = 120_000  # QR lifetime when the attempt gives no usable expires_ms
    close_ms: int = 30_000  # waiting for checkout.cancel to settle
    failed_ms: int = 30_000
    offer_wait_ms: int = 5_000  # paid screen while member.offer is asked
    offer_ms: int = 30_000
    join_ms: int = 20_000
    joined_ms: int = 10_000
    done_ms: int = 5_000  # done / cancelled screens before the attract loop
    max_last4_tries: int = 3


@dataclass(frozen=True)
class Session:
    order: Order
    pay_n: int = 0  # checkout.pay requests with distinct parameters so far
    seq: int = 0  # every other call
    face_consent: bool = False
    face_blocked: bool = False  # too many wrong second factors: QR and code only
    out_trade_no: str | None = None  # the live attempt, once the controller named it
    queued: Order | None = None  # the next order, pushed while money is in flight
    recent: tuple[tuple[str, int, int], ...] = ()  # Idle.counters when this order came


@dataclass(frozen=True)
class Idle:
    """The attract loop. `counters` remembers (order_id, pay_n, seq) of recent orders so that
    an order pushed again never reuses an idempotency key with other parameters."""

    counters: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Active:
    session: Session
    deadline_ms: int
    awaiting: str | None = None
    poll_at_ms: int | None = None

    @property
    def order(self) -> Order:
        return self.session.order


@dataclass(frozen=True, kw_only=True)
class OrderShown(Active):
    """Items and amounts; a known member may apply points or a coupon (`awaiting` then)."""


@dataclass(frozen=True, kw_only=True)
class ChoosingMethod(Active):
    methods: tuple[str, ...]
    face_needs_consent: bool = False  # face pay possible once the shopper consents


@dataclass(frozen=True, kw_only=True)
class ScanningCode(Active):
    pass


@dataclass(frozen=True, kw_only=True)
class FaceMatching(Active):
    pass


@dataclass(frozen=True, kw_only=True)
class NeedSecondFactor(Active):
    face: FaceMatch
    tries: int  # wrong digits so far


PayPhase = Literal["sending", "confirming", "unknown", "checking", "resend"]


@dataclass(frozen=True, kw_only=True)
class Paying(Active):
    """`sending`: the pay call is out; `confirming`: the shopper confirms on the phone (polled);
    `unknown`: the controller could not tell the outcome (polled, never paid again);
    `checking`: the pay was refused as conflicting, status tells why; `resend`: the answer
    was lost, the same call (same key) goes out again at the next poll."""

    call: CallController
    method: str
    phase: PayPhase = "sending"
    face: FaceMatch | None = None
    tries: int = 0


@dataclass(frozen=True, kw_only=True)
class ShowingQr(Active):
    code_url: str
    expires_ms: int


ClosePhase = Literal["sending", "checking", "resend"]


@dataclass(frozen=True, kw_only=True)
class Closing(Active):
    """checkout.cancel is out (or settling: status polled until the order is closed or paid)."""

    reason: str
    call: CallController
    phase: ClosePhase = "sending"


@dataclass(frozen=True, kw_only=True)
class Failed(Active):
    reason: str
    methods: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Cancelled(Active):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Paid(Active):
    """Paid; member.offer is being asked (`awaiting`)."""


@dataclass(frozen=True, kw_only=True)
class OfferJoin(Active):
    offer: Offer
    confirming: bool = False  # the prefilled profile is shown, waiting for the confirm tap


@dataclass(frozen=True, kw_only=True)
class Joining(Active):
    offer: Offer
    call: CallController
    resend: bool = False


@dataclass(frozen=True, kw_only=True)
class Joined(Active):
    result: JoinResult


DoneOutcome = Literal["paid", "declined", "timeout", "join_failed"]


@dataclass(frozen=True, kw_only=True)
class Done(Active):
    outcome: DoneOutcome


ActiveState = (OrderShown | ChoosingMethod | ScanningCode | FaceMatching | NeedSecondFactor
               | Paying | ShowingQr | Closing | Failed | Cancelled | Paid | OfferJoin | Joining
               | Joined | Done)
State = Idle | ActiveState

PRE_PAY = (OrderShown, ChoosingMethod, ScanningCode, FaceMatching, NeedSecondFactor, Failed)
IN_FLIGHT = (Paying, ShowingQr, Closing)  # money may move: a new order waits
AFTER_PAY = (Paid, OfferJoin, Joining, Joined, Done)


def timers(state: State) -> dict[str, int]:
    """The timers the state needs pending (name → at_ms)."""
    if isinstance(state, Idle):
        return {}
    out = {SCREEN: state.deadline_ms}
    if state.poll_at_ms is not None:
        out[POLL] = state.poll_at_ms
    return out


def awaiting(state: State) -> str | None:
    """The tag of the controller answer the state waits for (None: none)."""
    return None if isinstance(state, Idle) else state.awaiting


def screen_name(state: State) -> str:
    return type(state).__name__


def methods_for(session: Session, cfg: FlowConfig) -> tuple[str, ...]:
    """QR and payment code always; face only when enabled here and the shopper consented."""
    face = cfg.face_pay and session.face_consent and not session.face_blocked
    return (NATIVE, CODE, FACE) if face else (NATIVE, CODE)
