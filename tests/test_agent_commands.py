from typing import Any

from kiosk.agent.commands import CommandRunner
from kiosk.agent.store import MemoryAgentStore
from kiosk.wire.messages import Command, CommandAck


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def cmd(name: str = "ping", cmd_id: str = "cmd-0001", expires: int = 2_000_000) -> Command:
    return Command(cmd_id=cmd_id, name=name, issued_ms=900_000, expires_ms=expires)


async def run(runner: CommandRunner, c: Command) -> list[CommandAck]:
    sent: list[CommandAck] = []

    async def send(ack: CommandAck) -> None:
        sent.append(ack)

    await runner.handle(c, send)
    return sent


async def test_runs_once_and_replays_result_on_redelivery() -> None:
    calls: list[dict[str, Any]] = []

    async def ping(args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return {"pong": len(calls)}

    runner = CommandRunner(MemoryAgentStore(), Clock())
    runner.register("ping", ping)
    first = await run(runner, cmd())
    assert [a.status for a in first] == ["received", "done"]
    assert first[-1].result == {"pong": 1}
    again = await run(runner, cmd())
    assert [a.status for a in again] == ["done"] and again[0].result == {"pong": 1}
    assert len(calls) == 1


async def test_expired_unknown_and_failing_commands() -> None:
    clock = Clock()
    runner = CommandRunner(MemoryAgentStore(), clock)

    async def boom(args: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    runner.register("boom", boom)
    runner.register("ping", boom)
    clock.ms = 3_000_000
    assert [a.status for a in await run(runner, cmd(cmd_id="cmd-exp1"))] == ["expired"]
    clock.ms = 1_000_000
    assert [a.status for a in await run(runner, cmd("reboot", "cmd-unk1"))] == ["rejected"]
    acks = await run(runner, cmd("boom", "cmd-boom"))
    assert [a.status for a in acks] == ["received", "failed"]
    assert acks[-1].error is not None and "disk on fire" in acks[-1].error
