"""Model names are free text from clients: what the metrics keep of them is bounded at the recorder, which queues
and writes them cut to length, and in the price table, which remembers no name beyond the bound (through the
served gateway, the events, the dashboard and /metrics: integration/test_dashboard_bounds.py)."""

from __future__ import annotations

from gateway.metrics.labels import MAX_LABEL_CHARS
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.prices import PriceTable
from gateway.metrics.recorder import EventRecorder
from tests.support.events import event


async def test_the_recorder_queues_and_writes_bounded_names() -> None:
    sink = MemorySink(maxlen=100)
    recorder = EventRecorder(sink, prices=PriceTable(), retry_secs=1)
    huge = "\x00gpt-4o" + "x" * (1 << 20)  # a megabyte of model name
    for _ in range(10):
        recorder.emit(event(model=huge, route="support"))
    await recorder.flush()
    written, _ = await sink.read_after(None, since_ms=0, limit=100)
    assert [e.model for e in written] == ["gpt-4o" + "x" * (MAX_LABEL_CHARS - 7)] * 10
    assert {e.route for e in written} == {"support"}  # a name within the bounds is kept as it is


def test_prices_are_not_remembered_for_names_beyond_the_bound() -> None:
    table = PriceTable()
    for number in range(2000):
        assert table.cost(f"gpt-4o-{number}-" + "x" * 1000, 1_000_000, 0) == 2.50  # still priced by prefix
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == 0.15
    assert all(len(model) <= MAX_LABEL_CHARS for model in table._memo)
