"""Reading a request's body within bounds: at most `MAX_BODY_BYTES` (413 above), all of it within
`BODY_TIMEOUT_SECS` of the start (408 after), so a client trickling its body cannot hold a connection open.

Cached endpoints read the whole body; a timer per request would cost every hit microseconds, so one sweep per
worker watches every body being read and cancels those past their deadline. A passthrough streams its body
upstream as it arrives, each chunk within the same deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request

from gateway.errors import InvalidRequest

DRAIN_LIMIT = 16 << 20  # an over-limit body up to this size is read and dropped, so the client sees the 413
SWEEP_SECS = 0.25  # how late past its deadline a body read may be cut off


class BodyDeadlines:
    """The body reads in progress in this worker and when each must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._reading: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="body-deadlines")

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECS)
            now = loop.time()
            for task, deadline in list(self._reading.items()):
                if now >= deadline:
                    del self._reading[task]
                    self._expired.add(task)
                    task.cancel()  # it waits in its read: the cancellation lands there

    async def read(self, request: Request, limit: int) -> bytes:
        task = asyncio.current_task()
        assert task is not None
        self._reading[task] = asyncio.get_running_loop().time() + self.seconds
        try:
            return await _read_within(request, limit)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()
            raise too_slow(self.seconds) from None
        finally:
            self._reading.pop(task, None)
            self._expired.discard(task)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper


def declared_length(request: Request) -> int | None:
    """The client's Content-Length when it is a plain ASCII number (the HTTP server has already refused others)."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() and len(declared) <= 18 else None


async def _read_within(request: Request, limit: int) -> bytes:
    declared = declared_length(request)
    if declared is not None and declared > limit:
        if declared <= DRAIN_LIMIT:
            await _drain(request, DRAIN_LIMIT)
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, DRAIN_LIMIT - size)
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def streamed(request: Request, seconds: float) -> AsyncIterator[bytes]:
    """The body as it arrives, each chunk within the deadline (its own timer: this one is rare, and a sweep's
    cancellation could land inside the upstream client instead of here)."""
    deadline = asyncio.get_running_loop().time() + seconds
    stream = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise too_slow(seconds) from None
        yield chunk


def too_slow(seconds: float) -> InvalidRequest:
    return InvalidRequest(f"The request body did not arrive within the gateway's limit of {seconds:g} seconds.",
                          code="request_timeout", status=408)


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"The request body is larger than the gateway's limit of {limit} bytes.",
                          code="request_too_large", status=413)


async def _drain(request: Request, budget: int) -> None:
    """Read what the client is still sending (a client blocked on a full socket would never read our 413)."""
    async for chunk in request.stream():
        budget -= len(chunk)
        if budget < 0:
            return
