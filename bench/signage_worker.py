"""Simulated terminals with the real signage stack, in their own process, for bench/push.py.

Each terminal is a real `KioskAgent` (outbox in memory) with `TerminalSignage`: its own content
library on disk, HTTP downloads, signature and hash checks, atomic switch, playback.
Prints READY once every terminal is connected, then runs until STOP (or EOF) on stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import _repo_root  # noqa: F401 - first: the repository root on sys.path, not bench/

from content.signing import public_key_from_text
from kiosk.agent.agent import AgentConfig
from kiosk.aio import cancel_and_wait
from kiosk.credentials import DeviceCredentials
from kiosk.fleet import Fleet
from kiosk.player import ContentLibrary
from kiosk.signage import TerminalSignage


async def main(creds_path: Path, root: Path) -> None:
    creds = [DeviceCredentials(**c) for c in json.loads(creds_path.read_text())]
    fleet = Fleet(creds, agent_config=AgentConfig(device_id="x", password="x", heartbeat_s=3600))
    tasks = []
    for agent, c in zip(fleet.agents, creds, strict=True):
        library = ContentLibrary(root / c.device_id, 100 * 1024 * 1024,
                                 trusted_keys=public_key_from_text(c.content_key))
        tasks.append(asyncio.create_task(TerminalSignage(agent, library).run()))
    await fleet.start(timeout=120)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    while line := (await reader.readline()).decode().split():
        if line[0] == "STOP":
            break
    await cancel_and_wait(tasks)
    await fleet.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
