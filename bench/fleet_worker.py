"""Simulated terminals in their own process, driven over stdin/stdout by a benchmark.

Protocol (one line each): the worker prints READY once every terminal is connected; on
`EMIT <n>` every terminal records n events, held in its outbox, and the worker prints EMITTED;
`GO` lets them all send; on `DRAIN <s>` it
waits until every outbox is empty and prints DRAINED <ok>; on `STOP` (or EOF) it exits.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from pathlib import Path

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/

from kiosk.agent.agent import AgentConfig
from kiosk.credentials import DeviceCredentials
from kiosk.fleet import Fleet


async def main(creds_path: Path, resend_after_s: float) -> None:
    creds = [DeviceCredentials(**c) for c in json.loads(creds_path.read_text())]
    fleet = Fleet(creds, agent_config=AgentConfig(
        device_id="x", password="x", heartbeat_s=3600, resend_after_s=resend_after_s,
        max_inflight_batches=10))
    await fleet.start(timeout=120)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    while line := (await reader.readline()).decode().split():
        if line[0] == "EMIT":  # recorded while held back, so GO times only the link
            fleet.pause_sending()
            await fleet.emit(int(line[1]))
            # 1,000 terminals' outboxes in one process: half a million long-lived objects that
            # a real terminal does not hold. Frozen, the cyclic GC stops rescanning them (one
            # full collection during a run cost ~0.5 s of this process's CPU, measured).
            gc.collect()
            gc.freeze()
            print("EMITTED", flush=True)
        elif line[0] == "GO":
            fleet.resume_sending()
        elif line[0] == "DRAIN":
            ok = await fleet.wait_drained(float(line[1]))
            print(f"DRAINED {int(ok)}", flush=True)
        elif line[0] == "STOP":
            break
    await fleet.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 60.0))
