"""Off the request path: `emit` only appends to a bounded in-memory queue, and one background task writes
what accumulated to the sink in batches. A full queue or a failing sink drops events and counts them; it
never slows or fails a request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque

from gateway.metrics.events import Event
from gateway.metrics.prices import PriceTable
from gateway.metrics.sink import EventSink
from gateway.tasks import cancel

log = logging.getLogger("latency_slayer.metrics")

QUEUE_LIMIT = 10_000  # events waiting for the writer; beyond this they are dropped, not buffered
BATCH = 500  # events per pipeline
FLUSH_SECS = 0.2  # how often the writer wakes: well inside the dashboard's 2 s freshness budget
STOP_SECS = 5.0  # for the writer to stop on close, however often its cancel is lost (`gateway.tasks.cancel`)


class EventRecorder:
    def __init__(self, sink: EventSink, *, prices: PriceTable, retry_secs: float) -> None:
        self.sink = sink
        self.prices = prices
        self.source = f"{socket.gethostname()}:{os.getpid()}"
        # A plain deque drained on a timer rather than an asyncio.Queue: an append wakes no task and
        # allocates no future, so emitting costs the request next to nothing.
        self._queue: deque[Event] = deque()
        self._retry_secs = retry_secs
        self._resting_until = 0.0
        self._outage = False
        self._lock = asyncio.Lock()  # one writer at a time keeps the stream in emission order
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0  # the queue was full
        self.lost = 0  # the sink failed

    def emit(self, event: Event) -> None:
        if len(self._queue) < QUEUE_LIMIT:
            self._queue.append(event.with_bounded_names())  # not a client's megabyte of model name, 10,000 times over
        else:
            self.dropped += 1

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics-writer")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECS)
            await self.flush()

    async def flush(self) -> None:
        """Write everything emitted so far (or count it lost)."""
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                await self._write(batch)

    async def _write(self, batch: list[Event]) -> None:
        if time.monotonic() < self._resting_until:
            self.lost += len(batch)  # the sink failed a moment ago: don't wait for another timeout
            return
        try:
            await self.sink.write(batch)
        except Exception as error:  # whatever the sink raises, metrics must not take the writer down
            self.lost += len(batch)
            self._resting_until = time.monotonic() + self._retry_secs
            if not self._outage:
                self._outage = True
                log.warning("metrics sink failed (%s); events are dropped until it is back", error)
            return
        self.written += len(batch)
        if self._outage:
            self._outage = False
            log.info("metrics sink is back; events are recorded again")

    def counters(self) -> dict[str, int]:
        return {"written": self.written, "dropped": self.dropped, "lost": self.lost, "queued": len(self._queue)}

    async def close(self) -> None:
        if self._task is not None:
            await cancel([self._task], timeout=STOP_SECS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=2)
        await self.sink.close()
