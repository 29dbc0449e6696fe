"""The dashboard's view of the fleet: it follows the sink from where it last read and adds what is new to each
window's running tally (gateway/metrics/rolling.py), so a scrape costs the same whether the last hour held 200
events or 200,000. Of the events themselves it keeps only the last few, for the sparkline."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from gateway.errors import SinkError
from gateway.metrics.aggregate import SPARKLINE, snapshot
from gateway.metrics.events import Event
from gateway.metrics.rolling import RollingWindow
from gateway.metrics.sink import EventSink

WINDOWS_S = (60, 900, 3600)  # what the dashboard offers; the longest is how far back a first read goes
PAGE = 1_000  # entries per read while catching up: each page is parsed in one go on the event loop
MIN_REFRESH_SECS = 0.25  # dashboards polling together share one read
TAIL = SPARKLINE * 4  # replicas append in batches: the last 20 by time are among the last 80 read


class EventWindow:
    def __init__(self, sink: EventSink, *, max_events: int, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._max_events = max_events
        self._clock = clock
        self._horizon_ms = max(WINDOWS_S) * 1000
        self._threshold: float | None = None
        self._windows: dict[int, RollingWindow] = {}
        self._tail: deque[Event] = deque(maxlen=TAIL)
        self._cursor: str | None = None
        self._refreshed = 0.0
        self._lock = asyncio.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def figures(self, windows_s: Sequence[int], *, threshold: float) -> tuple[list[dict[str, Any]], str | None]:
        """The snapshot of each of `windows_s` (from WINDOWS_S) after reading what is new, and why they may be
        stale: when the sink fails, they are the figures read so far."""
        stale = None
        async with self._lock:
            try:
                await self._catch_up(threshold)
            except SinkError as error:
                stale = str(error)
        now = self.now_ms()
        since = now - self._horizon_ms
        tail = [event for event in self._tail if event.ts >= since]
        return [snapshot(self._windows[seconds], tail, now_ms=now, threshold=threshold) for seconds in windows_s], stale

    async def _catch_up(self, threshold: float) -> None:
        if threshold != self._threshold:  # the distance bins are laid out against it: read everything again
            self._threshold = threshold
            self._windows = {seconds: RollingWindow(seconds, threshold=threshold, max_events=self._max_events)
                             for seconds in WINDOWS_S}
            self._tail.clear()
            self._cursor = None
            self._refreshed = 0.0
        if self._clock() - self._refreshed < MIN_REFRESH_SECS:
            return
        async for batch, cursor in self._pages(self._cursor):
            now = self.now_ms()
            for window in self._windows.values():
                window.add(batch, now)
            self._tail.extend(batch)
            self._cursor = cursor  # a page read is kept, even if the next one fails
        self._refreshed = self._clock()

    async def _pages(self, cursor: str | None) -> AsyncIterator[tuple[list[Event], str | None]]:
        """The sink's events after `cursor` (none: those of the longest window), a page at a time."""
        since = self.now_ms() - self._horizon_ms
        while True:  # until the cursor stops moving: a page may hold fewer events than entries it read
            batch, moved = await self._sink.read_after(cursor, since_ms=since, limit=PAGE)
            if moved == cursor:
                return
            yield batch, moved
            cursor = moved

    async def refresh(self) -> list[Event]:
        """Every event of the last hour, oldest first, read afresh from the sink: for a one-off report (the
        demo's summary). It costs as much as there are events, which is why the dashboard never calls it."""
        return [event async for batch, _ in self._pages(None) for event in batch]
