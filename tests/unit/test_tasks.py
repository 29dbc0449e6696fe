"""Background tasks stop when their owner closes, also when a cancel is lost (`gateway.tasks.cancel`)."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.tasks import Background, cancel


async def _loses_first_cancel(cancels: list[int]) -> None:
    """A loop that goes on after its first cancel, as a task does whose cancel Python 3.11's `asyncio.wait_for`
    lost (it drops one landing in the step its awaitable completes)."""
    while True:
        try:
            await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            cancels.append(1)
            if len(cancels) > 1:
                raise


async def test_a_task_whose_first_cancel_is_lost_is_cancelled_again_until_it_ends() -> None:
    cancels: list[int] = []
    tasks = Background()
    task = tasks.spawn(_loses_first_cancel(cancels))
    await asyncio.sleep(0.01)
    await tasks.cancel(timeout=3)
    assert task.cancelled() and len(cancels) == 2


async def test_a_task_that_never_ends_is_given_up_on_at_the_timeout() -> None:
    deaf_until_told = asyncio.Event()

    async def deaf() -> None:
        while not deaf_until_told.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.02)

    loop = asyncio.get_running_loop()
    task = loop.create_task(deaf())
    await asyncio.sleep(0.01)
    started = loop.time()
    await cancel([task], timeout=0.3)
    assert not task.done() and loop.time() - started < 1  # bounded: the owner's close goes on
    deaf_until_told.set()
    await task
