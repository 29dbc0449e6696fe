"""The warming runner and the runs kept for `/admin/warm`, on their own, with a post that answers at once: the
senders are as many as the concurrency, however long the file, and requests go in the file's order; an ended run
keeps its outcome but lets its file go, and only the newest runs are kept."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from gateway.metrics.prices import PriceTable
from gateway.warming.jobs import RETAINED, WarmJobs
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


class File(list):  # a list that can be watched with a weak reference
    pass


async def answered(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
    await asyncio.sleep(0)
    return 200, "miss", ANSWER


def test_an_ended_run_keeps_its_outcome_not_its_file() -> None:
    async def run() -> tuple[WarmJobs, str, weakref.ref]:
        jobs = WarmJobs()
        file = File(requests(5))
        job = jobs.start(file, answered, key=None, budget=Budget(), concurrency=2, prices=PriceTable())
        watched = weakref.ref(file)
        del file
        await job.task
        return jobs, job.id, watched

    jobs, job_id, watched = asyncio.run(run())
    gc.collect()
    assert watched() is None
    view = jobs.get(job_id).view()
    assert (view["status"], view["requests"], view["warmed"]) == ("finished", 5, 5)


def test_only_the_newest_runs_are_kept() -> None:
    async def run() -> tuple[list[str], WarmJobs]:
        jobs, ids = WarmJobs(), []
        for _ in range(RETAINED + 2):
            job = jobs.start(requests(1), answered, key=None, budget=Budget(), concurrency=1, prices=PriceTable())
            assert jobs.running is job
            await job.task
            ids.append(job.id)
        return ids, jobs

    ids, jobs = asyncio.run(run())
    assert [jobs.get(job_id) is not None for job_id in ids] == [False] * 2 + [True] * RETAINED
    assert jobs.running is None


@pytest.mark.parametrize("answer", [b'{"id": "c1"}', b'{"usage": {"prompt_tokens": -500, "completion_tokens": 4}}',
                                    b"not json"])
def test_an_answer_whose_cost_cannot_be_read_ends_a_tokens_budget(answer: bytes) -> None:
    """It was paid for upstream at a cost nobody can tell (no usage, a negative count): sending more could pass the
    budget by any amount. A calls budget alone still lets the rest go."""

    async def post(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
        await asyncio.sleep(0)
        return 200, "miss", answer

    async def run(budget: Budget):
        return await Warmer(post, key=None, budget=budget, concurrency=3, prices=PriceTable()).run(requests(5))

    spend = asyncio.run(run(Budget(tokens=100)))
    assert spend.states == {"miss": 1, "skipped": 4} and spend.prompt_tokens == 0
    assert asyncio.run(run(Budget(calls=100))).states == {"miss": 5}
