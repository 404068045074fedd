"""Small asyncio helpers shared by the agent and the controller."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until they are really gone.

    Python 3.11's `asyncio.wait_for` can swallow a cancellation that races with its inner
    future completing (aiomqtt's publish awaits through it), so one `cancel()` is not always
    enough: keep cancelling until every task has finished.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)


async def first_to_exit(coros: Iterable[Coroutine[Any, Any, Any]]) -> None:
    """Run coroutines together; when one finishes, stop the rest and re-raise its error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(tasks)
    for t in done:
        if not t.cancelled() and (exc := t.exception()) is not None:
            raise exc


class BackgroundTasks:
    """Fire-and-forget coroutines that are still kept track of (a bare `create_task` can be
    garbage-collected mid-flight) and can be waited for on shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
