"""The Redis sink: every worker of every replica appends to one Redis Stream (`XADD ... MAXLEN ~ N`, a
pipeline per batch), and the dashboard follows it with `XRANGE` from where it last read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from gateway.errors import SinkError
from gateway.metrics.events import Event, decode, encode
from gateway.metrics.sink import EventSink
from gateway.store.redis.connection import FAILURES, client

# Entry ids carry Redis' clock, events their replica's: start reading a little early, then filter on the event's.
CLOCK_SLACK_MS = 60_000
# Off the request path, so reads may take longer than a cache lookup may: parsing a page of a busy stream does.
MIN_READ_SECS = 5.0


class RedisSink(EventSink):
    def __init__(self, url: str, *, stream: str, maxlen: int, timeout_ms: int) -> None:
        seconds = timeout_ms / 1000
        # Its own pool: a slow metrics write must never hold a connection the cache lookups need. A Redis that
        # is down is still noticed within `timeout_ms`, on connecting.
        self._redis = client(url, timeout=max(seconds, MIN_READ_SECS), connect_timeout=seconds)
        self._stream = stream
        self._maxlen = maxlen

    async def write(self, events: Sequence[Event]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.xadd(self._stream, encode(event), maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except FAILURES as error:
            raise SinkError(f"Redis XADD failed: {error}") from error

    async def read_after(self, cursor: str | None, *, since_ms: int, limit: int) -> tuple[list[Event], str | None]:
        start = f"({cursor}" if cursor else f"{max(since_ms - CLOCK_SLACK_MS, 0)}-0"  # "(": after what was read
        try:
            entries = cast("list[tuple[bytes, dict[bytes, bytes]]]",  # bytes: the client does not decode replies
                           await self._redis.xrange(self._stream, min=start, max="+", count=limit))
        except FAILURES as error:
            raise SinkError(f"Redis XRANGE failed: {error}") from error
        if not entries:
            return [], cursor
        events = [event for _, fields in entries
                  if (event := decode(fields)) is not None and (cursor or event.ts >= since_ms)]
        return events, entries[-1][0].decode()

    async def close(self) -> None:
        await self._redis.aclose()

    def describe(self) -> dict[str, Any]:
        return {"backend": "redis", "stream": self._stream, "maxlen": self._maxlen}
