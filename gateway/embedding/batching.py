"""Micro-batching of concurrent embedding calls: prompts that arrive within a bounded wait, or while a batch
is already running, are embedded together in one model run on the embedder's worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from gateway.errors import EmbedderError

#: What one model run embeds at most. Past a few prompts a batch is no faster per prompt on a CPU
#: (it is compute-bound), while every prompt in it waits for the longest.
MAX_BATCH = 16

EmbedMany = Callable[[list[str]], list[np.ndarray | EmbedderError]]
_Waiting = tuple[str, "asyncio.Future[np.ndarray]"]


class MicroBatcher:
    """Runs `embed_many` on `executor` for a batch of the prompts waiting for it.

    The first prompt to find the batcher idle waits `wait_secs` for company (less when `MAX_BATCH` arrive
    sooner); prompts that arrive while a batch runs go in the next one as soon as it ends, with no further
    wait. One batch runs at a time. Each caller gets its own vector or its own error.
    """

    def __init__(self, embed_many: EmbedMany, executor: Executor, *, wait_secs: float,
                 max_batch: int = MAX_BATCH) -> None:
        self._embed_many = embed_many
        self._executor = executor
        self._wait = wait_secs
        self._max = max_batch
        self._waiting: list[_Waiting] = []
        self._running = False
        self._timer: asyncio.TimerHandle | None = None

    async def embed(self, text: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append((text, future))
        if not self._running:
            if len(self._waiting) >= self._max:
                self._launch(loop)
            elif self._timer is None:
                self._timer = loop.call_later(self._wait, self._launch, loop)
        return await future

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [(text, future) for text, future in self._waiting[:self._max] if not future.done()]
        del self._waiting[:self._max]
        if not batch:  # every caller of this batch went away
            if self._waiting:
                self._launch(loop)
            return
        try:
            job = loop.run_in_executor(self._executor, self._embed_many, [text for text, _ in batch])
        except RuntimeError as exc:  # the executor was shut down: the embedder is closed
            self._settle(batch, [EmbedderError(f"embedding failed: {exc}")] * len(batch))
            return
        self._running = True
        job.add_done_callback(lambda done: self._finished(loop, batch, done))

    def _finished(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting],
                  job: asyncio.Future[list[np.ndarray | EmbedderError]]) -> None:
        self._running = False
        try:
            results = job.result()
        except Exception as exc:  # a bug in the batch itself fails only this batch's callers
            results = [EmbedderError(f"embedding failed: {exc}")] * len(batch)
        self._settle(batch, results)
        if self._waiting:  # they arrived while the batch ran, and have waited long enough
            self._launch(loop)

    @staticmethod
    def _settle(batch: list[_Waiting], results: list[np.ndarray | EmbedderError]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(result, EmbedderError):
                future.set_exception(result)
            else:
                future.set_result(result)
