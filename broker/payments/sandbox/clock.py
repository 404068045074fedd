"""The sandbox's business clock: wall time plus an offset that tests and demos can move forward
(to expire orders, settle USERPAYING codes, complete refunds) without waiting, or frozen.

Protocol time stamps (request Authorization, response and notification signatures) always use
the real wall clock, because the SDK on the other side signs with it.
"""

from __future__ import annotations

import time


class SandboxClock:
    def __init__(self, *, frozen_ms: int | None = None) -> None:
        self._offset_ms = 0
        self._frozen_ms = frozen_ms

    def now_ms(self) -> int:
        if self._frozen_ms is not None:
            return self._frozen_ms + self._offset_ms
        return int(time.time() * 1000) + self._offset_ms

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset_ms += ms
        return self.now_ms()


def wall_s() -> int:
    return int(time.time())
