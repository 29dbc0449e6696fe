"""The dashboard's view of the sink: the events of the last hour, kept in step by reading only what was
appended since the last refresh, so a poll every second costs one short `XRANGE`, not an hour of events."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from gateway.metrics.events import Event
from gateway.metrics.sink import EventSink

WINDOWS_S = (60, 900, 3600)  # what the dashboard offers; the longest is how much history is kept
PAGE = 1_000  # entries per read while catching up: each page is parsed in one go on the event loop
MIN_REFRESH_SECS = 0.25  # dashboards polling together share one read


class EventWindow:
    def __init__(self, sink: EventSink, *, max_events: int, horizon_ms: int = max(WINDOWS_S) * 1000,
                 clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._horizon_ms = horizon_ms
        self._events: deque[Event] = deque(maxlen=max_events)
        self._cursor: str | None = None
        self._clock = clock
        self._refreshed = 0.0
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def held(self) -> list[Event]:
        """The events read so far, without reading the sink (when it is down)."""
        return list(self._events)

    async def refresh(self) -> list[Event]:
        """The events of the horizon, oldest first, after reading what is new. Raises SinkError (the
        events already held stay)."""
        async with self._lock:
            if self._clock() - self._refreshed >= MIN_REFRESH_SECS:
                await self._catch_up()
                self._refreshed = self._clock()
            return list(self._events)

    async def _catch_up(self) -> None:
        since = self.now_ms() - self._horizon_ms
        while True:  # until the cursor stops moving: a page may hold fewer events than entries it read
            before = self._cursor
            batch, self._cursor = await self._sink.read_after(before, since_ms=since, limit=PAGE)
            self._events.extend(batch)
            if self._cursor == before:
                break
        while self._events and self._events[0].ts < since:
            self._events.popleft()
