"""The last log lines, kept in memory for the technician screen (a logging handler)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque


class RecentLogs(logging.Handler):
    def __init__(self, capacity: int = 200, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%H:%M:%S", time.gmtime(record.created))
            line = f"{stamp} {record.levelname[0]} {record.name}: {record.getMessage()}"
        except Exception:  # a bad format string must not break logging
            return
        with self._guard:
            self._lines.append(line[:300])

    def lines(self, n: int = 20) -> list[str]:
        with self._guard:
            return list(self._lines)[-n:]

    def install(self, logger: logging.Logger | None = None) -> RecentLogs:
        (logger or logging.getLogger()).addHandler(self)
        return self
