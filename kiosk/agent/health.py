"""Health figures for the heartbeat. Values the hardware cannot report stay None."""

from __future__ import annotations

import glob
import os
import shutil
import time
from pathlib import Path

from kiosk.wire.messages import Health

_STARTED = time.monotonic()


def cpu_temperature_c() -> float | None:
    """Highest thermal-zone reading in °C, or None where the board exposes none."""
    best: float | None = None
    for path in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        try:
            milli = int(Path(path).read_text().strip())
        except (OSError, ValueError):
            continue
        celsius = milli / 1000.0
        if -50 <= celsius <= 150:
            best = celsius if best is None else max(best, celsius)
    return best


def memory() -> tuple[float | None, float | None]:
    """(available MB, used %) from /proc/meminfo."""
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0])  # kB
        total, avail = fields["MemTotal"], fields["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError):
        return None, None
    return avail / 1024, round(100 * (total - avail) / total, 1)


def snapshot(*, app_version: str, data_dir: Path, outbox_pending: int, now_ms: int) -> Health:
    try:
        disk_free_mb: float | None = shutil.disk_usage(data_dir).free / 2**20
    except OSError:
        disk_free_mb = None
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:
        load = None
    mem_avail, mem_pct = memory()
    return Health(
        ts_ms=now_ms,
        uptime_s=round(time.monotonic() - _STARTED, 1),
        app_version=app_version,
        disk_free_mb=disk_free_mb,
        mem_available_mb=mem_avail,
        mem_used_pct=mem_pct,
        cpu_load_1m=load,
        cpu_temp_c=cpu_temperature_c(),
        outbox_pending=outbox_pending,
    )
