"""The warming runner on its own, with a post that answers at once: the senders are as many as the concurrency,
however long the file, and requests go in the file's order."""

from __future__ import annotations

import asyncio

import pytest

from gateway.metrics.prices import PriceTable
from gateway.warming.requests import WarmRequest
from gateway.warming.run import Budget, Warmer

ANSWER = b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4}}'


def requests(count: int) -> list[WarmRequest]:
    return [WarmRequest("/chat/completions", str(number).encode(), "m", None) for number in range(count)]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_only_as_many_senders_as_the_concurrency(concurrency: int) -> None:
    sent, tasks = [], []

    async def post(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
        sent.append(request.body)
        tasks.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return 200, "miss", ANSWER

    async def run():
        warmer = Warmer(post, key=None, budget=Budget(calls=150), concurrency=concurrency, prices=PriceTable())
        return await warmer.run(requests(200))

    spend = asyncio.run(run())
    assert spend.states == {"miss": 150, "skipped": 50} and spend.prompt_tokens == 450
    assert max(tasks) <= concurrency + 1  # the senders and the run itself, not a task per request
    assert sent == [str(number).encode() for number in range(150)]
