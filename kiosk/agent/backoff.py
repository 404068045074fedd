"""Reconnect delays: exponential with full jitter and a cap (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        # Full jitter keeps a store full of terminals from reconnecting in lockstep,
        # but never below a small floor so a flapping link does not spin.
        return max(self.initial_s / 2, self.rng.uniform(0, ceiling))

    def reset(self) -> None:
        self.attempt = 0
