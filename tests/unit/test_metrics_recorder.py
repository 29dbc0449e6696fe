"""The recorder's side of an event's path, in process: a bounded queue that the caller only fills, a background
writer that batches in order, drops counted when full and a failing sink rested; the in-process ring and a window
that keeps no more than it (both sinks against a real Redis Stream: integration/test_metrics_pipeline.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from gateway.errors import SinkError
from gateway.metrics import recorder as recorder_module
from gateway.metrics.events import Event
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.prices import PriceTable
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.sink import EventSink
from gateway.metrics.window import EventWindow
from tests.support.events import event

# Real time, as the sinks' tests have it (integration/test_metrics_pipeline.py).
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


def numbered(count: int, start: int = 0) -> list[Event]:
    return [event(ms=float(index), ts=NOW + index) for index in range(start, start + count)]


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


class CancelLosingSink(FlakySink):
    """Loses the first cancel that lands in a write, as Python 3.11's `asyncio.wait_for` does when the cancel comes
    in the step its awaitable completes (redis-py sends every command through it): the write returns normally."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.lost_cancels = 0

    async def write(self, events: Sequence[Event]) -> None:
        self.writing.set()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if self.lost_cancels:
                raise
            self.lost_cancels += 1
        await super().write(events)


async def test_close_stops_a_writer_whose_cancel_was_lost() -> None:
    """A stopping gateway closed the recorder, the writer's cancel was lost mid-write, the writer went back to its
    loop and close waited on it for ever: the process hung until killed."""
    sink = CancelLosingSink()
    recorder = EventRecorder(sink, prices=PriceTable(), retry_secs=1)
    recorder.start()
    recorder.emit(event())
    await sink.writing.wait()
    await asyncio.wait_for(recorder.close(), timeout=3)
    assert sink.lost_cancels == 1 and recorder.written == 1
