"""The embedded sink: a ring of the last `maxlen` events in this worker's memory, for a gateway with no
Redis. Each worker sees only its own requests; with Redis every worker shares one stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from gateway.metrics.events import Event
from gateway.metrics.sink import EventSink


class MemorySink(EventSink):
    def __init__(self, maxlen: int) -> None:
        self._ring: deque[tuple[int, Event]] = deque(maxlen=maxlen)
        self._sequence = 0

    async def write(self, events: Sequence[Event]) -> None:
        for event in events:
            self._sequence += 1
            self._ring.append((self._sequence, event))

    async def read_after(self, cursor: str | None, *, since_ms: int, limit: int) -> tuple[list[Event], str | None]:
        after = int(cursor) if cursor else 0
        newer: list[tuple[int, Event]] = []
        for item in reversed(self._ring):  # newest first: stop at what the reader already has
            if item[0] <= after or (cursor is None and item[1].ts < since_ms):
                break
            newer.append(item)
        newer.reverse()
        page = newer[:limit]
        return [event for _, event in page], str(page[-1][0]) if page else cursor

    async def close(self) -> None:
        self._ring.clear()

    def describe(self) -> dict[str, Any]:
        return {"backend": "memory", "maxlen": self._ring.maxlen}
