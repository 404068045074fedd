"""Controller-side latency of checkout work, provider time excluded (benchmarks, /healthz).

Each sample is the wall time the controller spent on one request or notification minus the
time its task waited for the payment provider (`driver.provider_wait`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from broker.payments.driver import provider_wait


class LatencyLog:
    def __init__(self, maxlen: int = 200_000) -> None:
        self.samples: deque[tuple[str, str, float]] = deque(maxlen=maxlen)  # kind, key, s

    @contextmanager
    def measure(self, kind: str, key: str, since: float | None = None) -> Iterator[None]:
        """`since`: when the work arrived (perf_counter), if it waited before this started."""
        token = provider_wait.set(0.0)
        t0 = time.perf_counter() if since is None else since
        try:
            yield
        finally:
            own = time.perf_counter() - t0 - provider_wait.get()
            provider_wait.reset(token)
            self.samples.append((kind, key, max(0.0, own)))

    def record(self, kind: str, key: str, seconds: float) -> None:
        self.samples.append((kind, key, max(0.0, seconds)))

    def by_key(self, kinds: set[str] | None = None) -> dict[str, float]:
        """Seconds per key (e.g. per order), summed over the kinds asked for."""
        out: dict[str, float] = {}
        for kind, key, s in self.samples:
            if kinds is None or kind in kinds:
                out[key] = out.get(key, 0.0) + s
        return out
