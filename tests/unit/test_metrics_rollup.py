"""The dashboard's windows keep running tallies, not events: their figures equal a brute-force computation over
the events (percentiles within the histograms' stated error), and what they hold is bounded however many events
arrive: a few buckets of fixed-size histograms, at most MAX_NAMES models and routes, the last few events."""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import random
import tracemalloc
import types
from collections import Counter

import pytest

from gateway.metrics.aggregate import BREAKDOWN_ROWS, distance_histogram
from gateway.metrics.events import Event
from gateway.metrics.histogram import DISTANCE, LATENCY, ROW_LATENCY, Histogram, Layout
from gateway.metrics.labels import MAX_NAMES, OTHER
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.rolling import BUCKETS, RollingWindow
from gateway.metrics.stats import latency_figures, percentile, summary
from gateway.metrics.window import TAIL, WINDOWS_S, EventWindow
from tests.support.events import NOW, event

THRESHOLD = 0.2


def within(value: float | None, exact: float | None, layout: Layout) -> bool:
    """What histogram.py promises: within the layout's relative error, or its floor for values below it."""
    if exact is None:
        return value is None
    return value is not None and abs(value - exact) <= layout.relative_error * exact + layout.floor + 1e-9


def test_histogram_percentiles_are_within_the_stated_error_and_merge_exactly() -> None:
    chooser = random.Random(7)
    assert (LATENCY.relative_error, DISTANCE.relative_error, ROW_LATENCY.relative_error) == (0.02, 0.02, 0.05)
    for layout, size in itertools.product((LATENCY, ROW_LATENCY), (1, 2, 3, 10, 101, 5000)):
        values = [math.exp(chooser.uniform(math.log(0.02), math.log(600_000))) for _ in range(size)]
        histogram = Histogram(layout)
        for value in values:
            histogram.add(value)
        ordered = sorted(values)
        for q, answer in zip((0.5, 0.95, 0.0, 1.0), histogram.quantiles(0.5, 0.95, 0.0, 1.0), strict=True):
            assert within(answer, percentile(ordered, q), layout), (size, q)
    first, second, both = Histogram(DISTANCE), Histogram(DISTANCE), Histogram(DISTANCE)
    for index, value in enumerate(chooser.uniform(0, 0.3) for _ in range(400)):
        (first if index % 3 else second).add(value)
        both.add(value)
    first.merge(second)
    assert first.quantiles(0.5, 0.95) == both.quantiles(0.5, 0.95) and first.count == 400
    first.merge(second, -1)
    first.merge(first, -1)  # emptied: no percentile, and its bins are given back
    assert first.count == 0 and first.quantiles(0.5) == [None]


def random_events(chooser: random.Random, count: int, *, until: int, span_ms: int) -> list[Event]:
    events = []
    for _ in range(count):
        outcome = chooser.choice(("hit", "hit", "miss", "miss", "bypass", "error"))
        layer = chooser.choice(("exact", "semantic", "flight")) if outcome == "hit" else None
        semantic = layer == "semantic"
        events.append(event(
            outcome, math.exp(chooser.uniform(math.log(0.05), math.log(30_000))),
            ts=until - chooser.randrange(span_ms), layer=layer, model=chooser.choice(("a", "b", "c", "d")),
            route=chooser.choice(("support", "docs", "sales")),
            distance=chooser.choice((0.0, chooser.uniform(0.001, 0.3))) if semantic else None,
            threshold=chooser.choice((None, 0.25)) if semantic else None,
            saved=chooser.randrange(500) if outcome == "hit" else 0,
            cost=round(chooser.uniform(0, 0.01), 8) if outcome == "hit" else 0.0,
            source=f"host:{chooser.randrange(3)}",
            ttfb=chooser.choice((None, chooser.uniform(0.1, 2000))),
            upstream=chooser.uniform(10, 20_000) if outcome in ("miss", "bypass") else None))
    return events


def in_buckets(events: list[Event], seconds: int, now_ms: int) -> list[Event]:
    """Brute force: the events of the window's last BUCKETS buckets."""
    width = seconds * 1000 // BUCKETS
    return [e for e in events if e.ts // width > now_ms // width - BUCKETS]


def expected_rows(events: list[Event], kind: str) -> dict[str, tuple[int, int, int, float]]:
    rows: dict[str, list[Event]] = {}
    for e in events:
        rows.setdefault(getattr(e, kind), []).append(e)
    return {name: (len(group), sum(e.hit for e in group), sum(e.tokens_saved for e in group if e.hit),
                   round(sum(e.cost_saved for e in group if e.hit), 8)) for name, group in rows.items()}


async def test_every_window_equals_a_brute_force_computation_as_time_goes_by() -> None:
    chooser = random.Random(11)
    sink = MemorySink(maxlen=100_000)
    clock = [NOW / 1000]
    window = EventWindow(sink, max_events=100_000, clock=lambda: clock[0])
    written: list[Event] = []
    for _ in range(12):  # reads between writes; each write reaches back past the hour: late stamps
        batch = sorted(random_events(chooser, 400, until=int(clock[0] * 1000), span_ms=4_000_000),
                       key=lambda e: e.ts)  # the ring's first read stops at the first stamp before the hour
        await sink.write(batch)
        written += batch
        views, _ = await window.figures(WINDOWS_S, threshold=THRESHOLD)
        for view in views:
            recent = in_buckets(written, view["window_s"], view["now"])
            exact = summary(recent)
            figures = view["summary"]
            for field in ("requests", "outcomes", "layers", "hit_rate", "tokens_saved"):
                assert figures[field] == exact[field], field
            assert figures["cost_saved"] == pytest.approx(exact["cost_saved"], abs=1e-9)
            for outcome in ("all", "hit", "miss"):
                for quantile in ("p50", "p95"):
                    assert within(figures["latency"][outcome][quantile], exact["latency"][outcome][quantile],
                                  LATENCY)
            assert within(figures["ttfb"]["hit"]["p50"], exact["ttfb"]["hit"]["p50"], LATENCY)
            assert within(figures["upstream"]["p95"], exact["upstream"]["p95"], LATENCY)
            distances, expected = dict(view["distances"]), distance_histogram(recent, THRESHOLD)
            assert within(distances.pop("p50"), expected.pop("p50"), DISTANCE)
            assert distances.pop("sum") == pytest.approx(expected.pop("sum"), abs=1e-5)
            assert distances == expected
            assert view["sources"] == len({e.source for e in recent})
            for kind in ("model", "route"):
                rows = {row["name"]: (row["requests"], row["hits"], row["tokens_saved"], round(row["cost_saved"], 8))
                        for row in view[f"by_{kind}"]}
                assert rows == expected_rows(recent, kind)
                row = view[f"by_{kind}"][0]
                group = [e for e in recent if getattr(e, kind) == row["name"]]
                assert within(row["p50_miss"], latency_figures([e.latency_ms for e in group if e.outcome == "miss"])
                              ["p50"], ROW_LATENCY)
        clock[0] += chooser.choice((0.3, 7, 70, 400))


def reachable_events(root: object, *, skip: tuple[object, ...]) -> int:
    """Events the window refers to, however deeply (not through code, classes or `skip`: its sink and lock)."""
    seen: set[int] = set()
    stack, found = [root], 0
    opaque = (type, types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType,
              types.FrameType, types.CoroutineType, asyncio.AbstractEventLoop)
    while stack:
        item = stack.pop()
        if id(item) in seen or any(item is other for other in skip) or isinstance(item, opaque):
            continue
        seen.add(id(item))
        if isinstance(item, Event):
            found += 1
        else:
            stack.extend(gc.get_referents(item))
    return found


def cycled(count: int, span_ms: int) -> list[Event]:
    """`count` events over the last `span_ms`, oldest first, every mix of 4 models, 3 routes, 3 workers and the
    outcomes every 72 events."""
    outcomes = [("hit", "exact"), ("hit", "semantic"), ("hit", "flight"), ("miss", None), ("bypass", None),
                ("error", None)]
    return [event(outcomes[k // 12 % 6][0], 1 + k % 997, ts=NOW - span_ms + k * span_ms // count,
                  layer=outcomes[k // 12 % 6][1], distance=0.1 if k // 12 % 6 == 1 else None, model="abcd"[k % 4],
                  route=("support", "docs", "sales")[k // 4 % 3], source=f"host:{k % 3}", ttfb=k % 7 or None,
                  upstream=50 + k % 500) for k in range(count)]


async def test_a_window_holds_bounded_state_however_many_events_arrive() -> None:
    footprints = []
    for count in (2_000, 20_000):
        sink = MemorySink(maxlen=count)
        await sink.write(cycled(count, span_ms=20_000))  # every bucket of the last 20 s sees every mix
        tracemalloc.start()  # what the window allocates and keeps (the events are the sink's)
        window = EventWindow(sink, max_events=count, clock=lambda: NOW / 1000)
        views, _ = await window.figures(WINDOWS_S, threshold=THRESHOLD)
        footprints.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        assert [view["summary"]["requests"] for view in views] == [count] * 3  # every event is counted,
        assert reachable_events(window, skip=(sink, window._lock)) <= TAIL  # but only the sparkline's are kept
        for rolling in window._windows.values():
            assert rolling.buckets() <= BUCKETS
            assert all(len(rows) <= MAX_NAMES + 1 for rows in rolling.total.rows.values())
    assert footprints[1] < 1.1 * footprints[0]  # ten times the events, not ten times the memory
    spread = random_events(random.Random(3), 5000, until=NOW + 600_000, span_ms=4_200_000)
    held = []
    for seconds in WINDOWS_S:  # stamps from before the hour to ahead of the clock: 60 buckets at most
        rolling = RollingWindow(seconds, threshold=THRESHOLD, max_events=5000)
        rolling.add(spread, NOW)
        held.append(rolling.buckets())
    assert max(held) == BUCKETS


async def test_thousands_of_made_up_model_names_fold_into_other() -> None:
    sink = MemorySink(maxlen=10_000)
    clock = [NOW / 1000]
    window = EventWindow(sink, max_events=10_000, clock=lambda: clock[0])
    names = [f"{index:05d}-" + "x" * 194 for index in range(3000)]  # 200 characters, distinct in the first 64
    await sink.write([event(ts=NOW - index, model=name)
                      for index, name in enumerate(names)])
    views, _ = await window.figures(WINDOWS_S, threshold=THRESHOLD)
    for view, rolling in zip(views, window._windows.values(), strict=True):
        assert len(rolling.total.rows["model"]) == MAX_NAMES + 1
        assert rolling.total.rows["model"][OTHER].requests == len(names) - MAX_NAMES
        assert len(view["by_model"]) == BREAKDOWN_ROWS and view["by_model"][-1]["name"] == OTHER
        assert sum(row["requests"] for row in view["by_model"]) == len(names)
    clock[0] += 61  # the minute has passed: its names left it, new ones have room again
    await sink.write([event(ts=NOW + 61_000, model="a-new-model")])
    views, _ = await window.figures(WINDOWS_S, threshold=THRESHOLD)
    assert [row["name"] for row in views[0]["by_model"]] == ["a-new-model"]
    assert Counter(row["name"] for row in views[2]["by_model"])[OTHER] == 1  # the hour still folds it
    assert "a-new-model" not in [row["name"] for row in views[2]["by_model"]]


def test_events_stamped_ahead_of_the_clock_count_now_and_the_window_stays_at_sixty_buckets() -> None:
    window = RollingWindow(60, threshold=THRESHOLD, max_events=1000)
    window.add([event(ts=NOW + offset) for offset in range(0, 600_000, 1000)], NOW)
    assert window.total.requests == 600 and window.buckets() == 1
    window.advance(NOW + 60_000)
    assert window.total.requests == 0 and window.buckets() == 0
