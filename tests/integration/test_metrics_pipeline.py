"""The path of an event: the recorder's bounded queue and background writer, both sinks (a real Redis
Stream and the in-process ring) read back in order, and the dashboard's window that follows them."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import redis.asyncio as redis

from gateway.errors import SinkError
from gateway.metrics import recorder as recorder_module
from gateway.metrics.events import Event
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.prices import PriceTable
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.redis_sink import RedisSink
from gateway.metrics.sink import EventSink
from gateway.metrics.window import WINDOWS_S, EventWindow
from tests.support.events import event

# Real time: a Redis Stream's entry ids carry Redis' clock, which reading from a point in time relies on.
NOW = int(time.time() * 1000)


class FlakySink(EventSink):
    """Records batches; fails while `failing` is set."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []
        self.failing = False

    async def write(self, events: Sequence[Event]) -> None:
        if self.failing:
            raise SinkError("down")
        self.batches.append(list(events))

    async def read_after(self, cursor: str | None, *, since_ms: int, limit: int) -> tuple[list[Event], str | None]:
        raise AssertionError("not read in these tests")

    async def close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"backend": "test"}


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


async def test_the_memory_ring_keeps_exactly_maxlen() -> None:
    sink = MemorySink(maxlen=3)
    await sink.write(numbered(5))
    page, _ = await sink.read_after(None, since_ms=0, limit=10)
    assert [e.latency_ms for e in page] == [2.0, 3.0, 4.0]


async def test_emit_only_queues_and_the_writer_batches_in_order(monkeypatch) -> None:
    monkeypatch.setattr(recorder_module, "BATCH", 4)
    sink = FlakySink()
    recorder = EventRecorder(sink, prices=PriceTable(), retry_secs=1)
    for item in numbered(10):
        recorder.emit(item)
    assert sink.batches == [] and recorder.counters()["queued"] == 10  # nothing written on the caller's time
    await recorder.flush()
    assert [len(batch) for batch in sink.batches] == [4, 4, 2]
    assert [e.latency_ms for batch in sink.batches for e in batch] == [float(i) for i in range(10)]
    assert recorder.counters() == {"written": 10, "dropped": 0, "lost": 0, "queued": 0}


async def test_the_background_task_writes_without_being_asked() -> None:
    sink = FlakySink()
    recorder = EventRecorder(sink, prices=PriceTable(), retry_secs=1)
    recorder.start()
    recorder.emit(event())
    await asyncio.sleep(recorder_module.FLUSH_SECS * 3)
    assert recorder.written == 1
    recorder.emit(event())
    await recorder.close()  # a last flush on the way out
    assert recorder.written == 2


async def test_a_full_queue_drops_and_counts(monkeypatch) -> None:
    monkeypatch.setattr(recorder_module, "QUEUE_LIMIT", 5)
    recorder = EventRecorder(FlakySink(), prices=PriceTable(), retry_secs=1)
    for item in numbered(8):
        recorder.emit(item)
    assert recorder.counters() == {"written": 0, "dropped": 3, "lost": 0, "queued": 5}


async def test_a_failing_sink_loses_events_logs_once_and_recovers(caplog) -> None:
    sink = FlakySink()
    sink.failing = True
    recorder = EventRecorder(sink, prices=PriceTable(), retry_secs=0.2)
    with caplog.at_level(logging.INFO, logger="latency_slayer.metrics"):
        for _ in range(3):
            recorder.emit(event())
            await recorder.flush()
        assert recorder.lost == 3 and recorder.written == 0
        sink.failing = False
        recorder.emit(event())
        await recorder.flush()
        assert recorder.lost == 4  # still resting: no new attempt (and no timeout) before retry_secs
        await asyncio.sleep(0.25)
        recorder.emit(event())
        await recorder.flush()
    assert recorder.written == 1
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "metrics sink failed" in m]) == 1
    assert len([m for m in messages if "metrics sink is back" in m]) == 1


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


async def test_a_window_keeps_no_more_than_the_sink_does() -> None:
    sink = MemorySink(maxlen=100)
    clock = [NOW / 1000]
    window = EventWindow(sink, max_events=100, clock=lambda: clock[0])
    for start in range(0, 1000, 100):  # one event a second, read as they come
        await sink.write([event(ts=NOW - 1_000_000 + index * 1000) for index in range(start, start + 100)])
        views, _ = await window.figures([3600], threshold=0.2)
        clock[0] += 1
    assert 40 <= views[0]["summary"]["requests"] <= 100  # the newest, whole one-minute buckets of them
    assert views[0]["sparkline"][-1]["ts"] == NOW - 1_000_000 + 999_000  # all 1000 were read

