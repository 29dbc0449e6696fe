"""Warming runs inside a running gateway (`POST /admin/warm`): at most one at a time per worker, each in the
background under a random id, its progress readable while it runs and its outcome after it ends (for the last
`RETAINED` runs); cancelled on demand, and when the worker stops."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.metrics.prices import PriceTable
from gateway.tasks import cancel
from gateway.warming.requests import WarmRequest
from gateway.warming.run import Budget, Post, Warmer, summary

RETAINED = 16  # ended runs whose outcome can still be read
CANCEL_SECS = 5.0  # how long a cancel waits for the requests in flight to stop
_SHOWN_ERROR = 300  # characters of an error answer kept in `last_error`

log = logging.getLogger(__name__)


class WarmJob:
    def __init__(self, requests: Sequence[WarmRequest], post: Post, *, key: str | None, budget: Budget,
                 concurrency: int, prices: PriceTable) -> None:
        self.id = secrets.token_hex(8)
        self.state = "running"  # then finished, cancelled, or failed (the run itself broke: logged)
        self.started = time.time()
        self.ended: float | None = None
        self.last_error: str | None = None  # the last request that failed, and why
        self.total = len(requests)
        self._requests = requests  # until it ends: a kept run's outcome must not hold its file
        self._warmer = Warmer(self._watched(post), key=key, budget=budget, concurrency=concurrency, prices=prices)
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run(), name=f"warm-{self.id}")

    def _watched(self, post: Post) -> Post:
        async def watched(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
            status, state, body = await post(request, headers)
            if status != 200:
                self.last_error = f"{status} from {request.path}: {_message(body)}"
            return status, state, body

        return watched

    async def _run(self) -> None:
        try:
            await self._warmer.run(self._requests)
            self.state = "finished"
        except asyncio.CancelledError:
            self.state = "cancelled"
            raise
        except Exception:
            log.exception("warming run %s broke", self.id)
            self.state = "failed"
        finally:
            self.ended = time.time()
            self._requests = ()

    def view(self) -> dict[str, Any]:
        """What the run has done so far, and what it cost upstream; with the CLI's summary once it has ended."""
        spend = self._warmer.spend
        states = spend.states
        return {
            "id": self.id, "status": self.state, "requests": self.total, "done": sum(states.values()),
            "warmed": states.get("miss", 0), "already_cached": states.get("hit", 0),
            "not_cacheable": states.get("bypass", 0), "failed": states.get("failed", 0),
            "skipped": states.get("skipped", 0), "prompt_tokens": spend.prompt_tokens,
            "completion_tokens": spend.completion_tokens, "cost_usd": round(spend.cost, 6),
            "last_error": self.last_error, "started_at": self.started, "ended_at": self.ended,
            "summary": summary(spend) if self.state != "running" else None,
        }


class WarmJobs:
    def __init__(self) -> None:
        self._jobs: dict[str, WarmJob] = {}  # oldest first

    @property
    def running(self) -> WarmJob | None:
        return next((job for job in self._jobs.values() if job.state == "running"), None)

    def start(self, requests: Sequence[WarmRequest], post: Post, *, key: str | None, budget: Budget,
              concurrency: int, prices: PriceTable) -> WarmJob:
        """A new run; the caller has seen that none is `running`."""
        job = WarmJob(requests, post, key=key, budget=budget, concurrency=concurrency, prices=prices)
        self._jobs[job.id] = job
        while len(self._jobs) > RETAINED:  # the oldest have ended: only the newest can be running
            del self._jobs[next(iter(self._jobs))]
        return job

    def get(self, job_id: str) -> WarmJob | None:
        return self._jobs.get(job_id)

    async def cancel(self, job: WarmJob) -> None:
        """Stop it, and wait (a little) until its requests in flight have stopped too."""
        await cancel([job.task], CANCEL_SECS)

    async def close(self) -> None:
        running = self.running
        if running is not None:
            await self.cancel(running)


def _message(body: bytes) -> str:
    """An error answer's message, in OpenAI's shape, else its first characters."""
    try:
        error = orjson.loads(body).get("error")
        text = error.get("message") if isinstance(error, dict) else None
    except (orjson.JSONDecodeError, AttributeError):
        text = None
    if not isinstance(text, str):
        text = body.decode("utf-8", "replace")
    return text[:_SHOWN_ERROR]
