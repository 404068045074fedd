"""Coalesced registry writes: presence, heartbeats and reported state, a few times a second.

A store full of terminals reconnecting sends thousands of presence and state messages at once;
writing each in its own transaction, inline in the MQTT receive loop, stalled event ingest
behind them. Handlers now only note the latest report per device; `run` writes them together.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from broker import storage
from broker.storage import signage

log = logging.getLogger(__name__)


class RegistryWriter:
    def __init__(self, db: storage.Database, *, interval_s: float = 0.2) -> None:
        self.db = db
        self.interval_s = interval_s
        self._pending: dict[str, storage.DeviceReport] = {}
        self._activations: dict[str, tuple[str, int]] = {}  # device → (playlist digest, at)

    def _report(self, device_id: str) -> storage.DeviceReport:
        report = self._pending.get(device_id)
        if report is None:
            report = self._pending[device_id] = storage.DeviceReport()
        return report

    def presence(self, device_id: str, online: bool, ts_ms: int) -> None:
        self._report(device_id).presence = (online, ts_ms)

    def seen(self, device_id: str, ts_ms: int, health: dict[str, Any] | None) -> None:
        report = self._report(device_id)
        if health is None and report.seen is not None:
            health = report.seen[1]  # a bare "seen" must not drop a heartbeat's health
        report.seen = (ts_ms, health)

    def state(self, device_id: str, state: dict[str, Any], config_version: int | None) -> None:
        self._report(device_id).state = (state, config_version)

    def activated(self, device_id: str, digest: str, ts_ms: int) -> None:
        """The terminal reports playlist `digest` active (from its retained state)."""
        self._activations[device_id] = (digest, ts_ms)

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._activations)

    async def flush(self) -> None:
        if self._activations:
            activations, self._activations = self._activations, {}
            try:
                await signage.record_activations(self.db, activations)
            except BaseException:
                self._activations = activations | self._activations
                raise
        if not self._pending:
            return
        reports, self._pending = self._pending, {}
        try:
            await storage.apply_device_reports(self.db, reports)
        except BaseException:
            for device_id, report in reports.items():  # keep anything newer that arrived
                newer = self._pending.get(device_id)
                self._pending[device_id] = _merge(report, newer) if newer else report
            raise

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("registry write failed; %d devices kept for retry", self.pending)


def _merge(old: storage.DeviceReport, new: storage.DeviceReport) -> storage.DeviceReport:
    return storage.DeviceReport(presence=new.presence or old.presence,
                                seen=new.seen or old.seen, state=new.state or old.state)
