"""The sink interface: where events are appended in batches, and read back in order by the dashboard.
Every replica writes to the same sink when it is a Redis Stream, so reading it shows the whole fleet."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from gateway.metrics.events import Event


class EventSink(ABC):
    @abstractmethod
    async def write(self, events: Sequence[Event]) -> None:
        """Append `events` in order. Raises SinkError."""

    @abstractmethod
    async def read_after(self, cursor: str | None, *, since_ms: int, limit: int) -> tuple[list[Event], str | None]:
        """Events appended after `cursor` (with no cursor: those of `since_ms` or later), oldest first, from at
        most `limit` entries, and the cursor to continue from: the same cursor when nothing was left to read.
        Raises SinkError."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Where the events go, for the dashboard's footer."""
