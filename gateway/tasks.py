"""Tasks that go on after whoever started them: held until they end (the event loop keeps only weak references
to tasks, so an unheld one may vanish mid-way), awaited or cancelled together when their owner closes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

RECANCEL_SECS = 0.1  # how long a cancelled task is given before it is cancelled again


async def cancel(tasks: Iterable[asyncio.Task[Any]], timeout: float) -> None:
    """Cancel `tasks` and wait for them to end, for at most `timeout` seconds. A cancel can be lost: Python 3.11's
    `asyncio.wait_for` drops one that lands in the step its awaitable completes (redis-py wraps every command's
    send in it), and the task goes on as if never cancelled; a writer looping forever then held a stopping
    gateway until it was killed. So each task is cancelled again until it ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    while pending and (left := deadline - loop.time()) > 0:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECS, left))


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self, timeout: float) -> None:
        """Let the running ones finish, for at most `timeout` seconds."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def cancel(self, timeout: float = 5.0) -> None:
        await cancel(list(self._tasks), timeout)
