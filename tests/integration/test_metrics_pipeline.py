"""The path of an event: both sinks (a real Redis Stream and the in-process ring) read back in order, and the
dashboard's window that follows them (the recorder's queue and writer before them: unit/test_metrics_recorder.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from gateway.metrics.events import Event
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.redis_sink import RedisSink
from gateway.metrics.sink import EventSink
from gateway.metrics.window import WINDOWS_S, EventWindow
from tests.support.events import event

# Real time: a Redis Stream's entry ids carry Redis' clock, which reading from a point in time relies on.
NOW = int(time.time() * 1000)


@pytest.fixture(params=["memory", "redis"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[EventSink]:
    if request.param == "memory":
        opened: EventSink = MemorySink(maxlen=1000)
    else:
        opened = RedisSink(request.getfixturevalue("redis_server").url, stream=f"events:{uuid.uuid4().hex[:8]}",
                           maxlen=1000, timeout_ms=2000)
    yield opened
    await opened.close()


def numbered(count: int, start: int = 0) -> list[Event]:
    return [event(ms=float(index), ts=NOW + index) for index in range(start, start + count)]


async def read_all(sink: EventSink, cursor: str | None, since_ms: int, page: int) -> tuple[list[float], str | None]:
    read: list[float] = []
    while True:
        events, moved = await sink.read_after(cursor, since_ms=since_ms, limit=page)
        assert len(events) <= page
        read += [e.latency_ms for e in events]
        if moved == cursor:
            return read, cursor
        cursor = moved


async def test_a_sink_reads_back_in_order_from_a_cursor(sink: EventSink) -> None:
    await sink.write(numbered(5))
    read, cursor = await read_all(sink, None, NOW + 2, page=2)
    assert read == [2.0, 3.0, 4.0]  # from a point in time
    assert await sink.read_after(cursor, since_ms=0, limit=100) == ([], cursor)
    await sink.write(numbered(2, start=5))
    page, _ = await sink.read_after(cursor, since_ms=0, limit=100)
    assert [e.latency_ms for e in page] == [5.0, 6.0]  # after the cursor, whatever their time


async def test_the_redis_stream_is_trimmed_to_about_maxlen(redis_server) -> None:
    stream = f"events:{uuid.uuid4().hex[:8]}"
    sink = RedisSink(redis_server.url, stream=stream, maxlen=100, timeout_ms=2000)
    for start in range(0, 1000, 200):
        await sink.write(numbered(200, start))
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert 100 <= await client.xlen(stream) < 400  # `MAXLEN ~` trims whole nodes, never below 100
    finally:
        await client.aclose()
        await sink.close()


async def test_the_window_follows_the_sink_and_forgets_beyond_its_horizon(sink: EventSink) -> None:
    clock = [NOW / 1000]
    window = EventWindow(sink, max_events=1000, clock=lambda: clock[0])

    async def requests() -> list[int]:
        views, stale = await window.figures(WINDOWS_S, threshold=0.2)
        assert stale is None
        return [view["summary"]["requests"] for view in views]

    await sink.write([event(ts=NOW - 3_700_000), event(ts=NOW - 600_000), *numbered(3)])
    assert await requests() == [3, 4, 4]  # the first is beyond the hour; the second only in the longer windows
    await sink.write(numbered(2, start=3))
    assert await requests() == [3, 4, 4]  # refreshed a moment ago: dashboards polling together share a read
    clock[0] += 1
    assert await requests() == [5, 6, 6]
    assert [event.latency_ms for event in await window.refresh()] == [100.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    clock[0] += 3600
    assert await requests() == [0, 0, 0]
    assert (await window.figures([60], threshold=0.2))[0][0]["last_event"] is None
