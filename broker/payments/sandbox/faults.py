"""Fault injection for the sandbox (pure configuration and decisions; the app applies them).

Per v3 endpoint (`native`, `codepay`, `agreement`, `query`, `reverse`, `close`, `refund`,
`query_refund`, `bill`) and for the wallet's `approve`:

- `delay_ms`: extra latency before the request is handled;
- `error_rate`: HTTP 500 SYSTEM_ERROR, the effect NOT applied;
- `timeout_rate`: the effect IS applied, then the answer is held for `hang_ms` (longer than the
  client waits), so the client cannot know what happened;
- `payerror_rate`: the bank refuses the payment (codepay and agreement: PAYERROR with 403
  TRADE_ERROR; wallet approve: refused, the order stays payable);
- `script`: outcomes consumed first, one per request: `"ok"`, `"error"`, `"timeout"`,
  `"payerror"`.

Notifications: `duplicate_rate` (delivered twice), `max_delay_ms` (a random delay before each
delivery: later events can overtake earlier ones), `drop_rate` (the first attempt is lost and
the regular retry schedule delivers it), and a `script` of `"ok"`, `"duplicate"`, `"delay"`,
`"drop"`. All randomness comes from one RNG seeded with `seed`: same seed, same run.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ENDPOINTS = frozenset({"native", "codepay", "agreement", "query", "reverse", "close", "refund",
                       "query_refund", "bill", "approve"})
DEFAULT_HANG_MS = 35_000


class Fault(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    PAYERROR = "payerror"


class NotifyFault(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    DELAY = "delay"
    DROP = "drop"


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number between 0 and 1")
    return float(value)


def _ms(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of ms >= 0")
    return value


@dataclass(slots=True)
class EndpointFaults:
    delay_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    payerror_rate: float = 0.0
    script: deque[Fault] = field(default_factory=deque)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointFaults:
        unknown = set(data) - {"delay_ms", "error_rate", "timeout_rate", "payerror_rate",
                               "script"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        return cls(delay_ms=_ms(data.get("delay_ms", 0), "delay_ms"),
                   error_rate=_rate(data.get("error_rate", 0), "error_rate"),
                   timeout_rate=_rate(data.get("timeout_rate", 0), "timeout_rate"),
                   payerror_rate=_rate(data.get("payerror_rate", 0), "payerror_rate"),
                   script=deque(Fault(s) for s in data.get("script", ())))

    def to_json(self) -> dict[str, Any]:
        return {"delay_ms": self.delay_ms, "error_rate": self.error_rate,
                "timeout_rate": self.timeout_rate, "payerror_rate": self.payerror_rate,
                "script": [str(s) for s in self.script]}


@dataclass(slots=True)
class NotifyFaults:
    duplicate_rate: float = 0.0
    max_delay_ms: int = 0
    drop_rate: float = 0.0
    script: deque[NotifyFault] = field(default_factory=deque)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotifyFaults:
        unknown = set(data) - {"duplicate_rate", "max_delay_ms", "drop_rate", "script"}
        if unknown:
            raise ValueError(f"unknown notification fault settings: {sorted(unknown)}")
        return cls(duplicate_rate=_rate(data.get("duplicate_rate", 0), "duplicate_rate"),
                   max_delay_ms=_ms(data.get("max_delay_ms", 0), "max_delay_ms"),
                   drop_rate=_rate(data.get("drop_rate", 0), "drop_rate"),
                   script=deque(NotifyFault(s) for s in data.get("script", ())))

    def to_json(self) -> dict[str, Any]:
        return {"duplicate_rate": self.duplicate_rate, "max_delay_ms": self.max_delay_ms,
                "drop_rate": self.drop_rate, "script": [str(s) for s in self.script]}


@dataclass(frozen=True, slots=True)
class Decision:
    fault: Fault
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class NotifyDecision:
    copies: int = 1  # 2 = a duplicate delivery
    delay_ms: int = 0  # before the first attempt
    drop_first: bool = False  # the first attempt is lost; the retry schedule delivers it


class FaultPlan:
    def __init__(self, seed: int = 0, hang_ms: int = DEFAULT_HANG_MS) -> None:
        self.seed = seed
        self.hang_ms = hang_ms
        self.endpoints: dict[str, EndpointFaults] = {}
        self.notifications = NotifyFaults()
        self._rng = random.Random(seed)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        """`{"seed": 1, "hang_ms": 35000, "endpoints": {"codepay": {...}},
        "notifications": {...}}`; raises ValueError on anything it does not know."""
        unknown = set(data) - {"seed", "hang_ms", "endpoints", "notifications"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        plan = cls(seed, _ms(data.get("hang_ms", DEFAULT_HANG_MS), "hang_ms"))
        endpoints = data.get("endpoints", {})
        if not isinstance(endpoints, dict):
            raise ValueError("endpoints must be an object")
        for name, settings in endpoints.items():
            if name not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {name!r}; one of {sorted(ENDPOINTS)}")
            if not isinstance(settings, dict):
                raise ValueError(f"endpoints.{name} must be an object")
            plan.endpoints[name] = EndpointFaults.from_json(settings)
        notifications = data.get("notifications", {})
        if not isinstance(notifications, dict):
            raise ValueError("notifications must be an object")
        plan.notifications = NotifyFaults.from_json(notifications)
        return plan

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "hang_ms": self.hang_ms,
                "endpoints": {k: v.to_json() for k, v in sorted(self.endpoints.items())},
                "notifications": self.notifications.to_json()}

    def decide(self, endpoint: str) -> Decision:
        f = self.endpoints.get(endpoint)
        if f is None:
            return Decision(Fault.OK)
        if f.script:
            return Decision(f.script.popleft(), f.delay_ms)
        roll = self._rng.random()
        for fault, rate in ((Fault.ERROR, f.error_rate), (Fault.TIMEOUT, f.timeout_rate),
                            (Fault.PAYERROR, f.payerror_rate)):
            if roll < rate:
                return Decision(fault, f.delay_ms)
            roll -= rate
        return Decision(Fault.OK, f.delay_ms)

    def decide_notification(self) -> NotifyDecision:
        n = self.notifications
        if n.script:
            fault = n.script.popleft()
            return NotifyDecision(copies=2 if fault is NotifyFault.DUPLICATE else 1,
                                  delay_ms=n.max_delay_ms if fault is NotifyFault.DELAY else 0,
                                  drop_first=fault is NotifyFault.DROP)
        copies = 2 if self._rng.random() < n.duplicate_rate else 1
        delay = self._rng.randint(0, n.max_delay_ms) if n.max_delay_ms else 0
        return NotifyDecision(copies, delay, self._rng.random() < n.drop_rate)
