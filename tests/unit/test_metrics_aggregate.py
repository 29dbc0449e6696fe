"""The figures over known event sequences: percentiles, the summary, savings, per model and route breakdowns,
the distance histogram, the sparkline, prices and Prometheus' format; exactly over a list (the demo's report),
and from a window's running tally (the dashboard's), whose percentiles are within the histograms' 2 %."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from gateway.errors import SettingsError
from gateway.metrics import prometheus
from gateway.metrics.aggregate import breakdown, distance_histogram, snapshot, sparkline
from gateway.metrics.events import Event, decode, encode
from gateway.metrics.histogram import RELATIVE_ERROR, ROW_ERROR
from gateway.metrics.labels import MAX_LABEL_CHARS, OTHER
from gateway.metrics.prices import PriceTable
from gateway.metrics.rolling import RollingWindow
from gateway.metrics.stats import latency_figures, percentile, summary
from gateway.setting_values import prices as parse_prices
from gateway.settings import load_settings
from tests.support.events import NOW, event
from tests.support.processes import NO_DOTENV


def hit(ms: float, layer: str = "exact", **fields) -> Event:
    return event("hit", ms, layer=layer, **fields)


def rolled(events: list[Event], seconds: int = 60, *, now: int = NOW, threshold: float = 0.1) -> RollingWindow:
    """A window that has read `events`, as the dashboard's do."""
    window = RollingWindow(seconds, threshold=threshold, max_events=1_000_000)
    window.add(events, now)
    return window


def close(value: float | None, exact: float, error: float = RELATIVE_ERROR) -> bool:
    """Within the histograms' relative error (ROW_ERROR: a model's or a route's latencies)."""
    return value is not None and abs(value - exact) <= error * abs(exact) + 1e-9


def test_percentiles_interpolate_between_ranks_like_numpy() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    chooser = random.Random(3)
    for size in (2, 5, 20, 101):
        values = sorted(chooser.uniform(0, 1000) for _ in range(size))
        for q in (0.5, 0.95):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))
    assert latency_figures([30.0, 10.0, 20.0]) == {"count": 3, "p50": 20.0, "p95": pytest.approx(29.0)}


def test_the_window_keeps_only_its_last_sixty_buckets() -> None:
    start = NOW - NOW % 1000  # the one-minute window's buckets are seconds
    events = [event(ts=start - 60_000), event(ts=start - 59_001), event(ts=start - 59_000), event(ts=start + 999)]
    assert rolled(events, now=start + 999).total.requests == 2  # this second and the 59 before it
    window = rolled(events, now=start)
    window.advance(start + 59_000)
    assert window.total.requests == 1
    window.advance(start + 60_000)
    assert window.total.requests == 0 and window.total.rows == {"model": {}, "route": {}}


KNOWN = [hit(1, saved=100, cost=0.001), hit(3, saved=50, cost=0.002),
         hit(5, "semantic", distance=0.04, saved=10, cost=0.0005, ttfb=4.0),
         event("miss", 100, upstream=95), event("miss", 200, upstream=190, ttfb=80.0),
         event("miss", 300, upstream=290), event("bypass", 150, upstream=140), event("error", 50)]


def test_summary_of_a_known_sequence() -> None:
    figures = summary(KNOWN)
    assert figures["requests"] == 8
    assert figures["outcomes"] == {"hit": 3, "miss": 3, "bypass": 1, "error": 1, "refresh": 0}
    assert figures["layers"] == {"exact": 2, "semantic": 1, "flight": 0, "stale": 0}
    assert figures["hit_rate"] == 3 / 8  # hits over every request, bypasses and errors included
    assert figures["latency"]["hit"] == {"count": 3, "p50": 3, "p95": pytest.approx(4.8)}
    assert figures["latency"]["miss"] == {"count": 3, "p50": 200, "p95": pytest.approx(290)}
    assert figures["latency"]["all"]["p50"] == pytest.approx(75)  # 1 3 5 50 100 150 200 300
    assert figures["ttfb"]["hit"]["p50"] == 4.0 and figures["ttfb"]["miss"]["p50"] == 80.0
    assert figures["upstream"]["count"] == 4  # misses and the bypass went upstream
    assert figures["tokens_saved"] == 160 and figures["cost_saved"] == pytest.approx(0.0035)
    assert figures["wait_saved_ms"] == pytest.approx(3 * (200 - 3))


def test_the_window_summary_is_the_exact_one_but_for_percentiles_within_two_percent() -> None:
    exact = summary(KNOWN)
    rolling = snapshot(rolled(KNOWN), [], now_ms=NOW, threshold=0.1)["summary"]
    for field in ("requests", "outcomes", "layers", "hit_rate", "tokens_saved"):
        assert rolling[field] == exact[field], field
    assert rolling["cost_saved"] == pytest.approx(exact["cost_saved"])
    for part, outcome in (("latency", "all"), ("latency", "hit"), ("latency", "miss"), ("ttfb", "hit"),
                          ("ttfb", "miss")):
        figures, expected = rolling[part][outcome], exact[part][outcome]
        assert figures["count"] == expected["count"]
        assert close(figures["p50"], expected["p50"]) and close(figures["p95"], expected["p95"]), (part, outcome)
    assert rolling["upstream"]["count"] == 4 and close(rolling["upstream"]["p50"], exact["upstream"]["p50"])
    assert rolling["wait_saved_ms"] == pytest.approx(exact["wait_saved_ms"], rel=2 * RELATIVE_ERROR)


def test_an_empty_window_has_no_rates_and_saves_nothing() -> None:
    for figures in (summary([]), snapshot(rolled([]), [], now_ms=NOW, threshold=0.1)["summary"]):
        assert figures["requests"] == 0 and figures["hit_rate"] is None
        assert figures["latency"]["all"] == {"count": 0, "p50": None, "p95": None}
        assert figures["wait_saved_ms"] == 0.0 and figures["tokens_saved"] == 0


def test_breakdown_per_model_busiest_first() -> None:
    events = [hit(2, model="gpt-4o", saved=30, cost=0.3), event("miss", 400, model="gpt-4o"),
              event("miss", 600, model="gpt-4o"), hit(1, model="gpt-4o-mini", saved=10, cost=0.01),
              event("miss", 300, model="gpt-4o-mini"), event("miss", 100, model="a-model")]
    rows = breakdown(rolled(events).total.rows["model"])
    assert [row["name"] for row in rows] == ["gpt-4o", "gpt-4o-mini", "a-model"]
    first = rows[0]
    assert close(first.pop("p50_hit"), 2, ROW_ERROR) and close(first.pop("p50_miss"), 500, ROW_ERROR)
    assert first == {"name": "gpt-4o", "requests": 3, "hits": 1, "hit_rate": 1 / 3, "tokens_saved": 30,
                     "cost_saved": 0.3}
    assert rows[2]["hit_rate"] == 0 and rows[2]["p50_hit"] is None


def test_breakdown_folds_the_rarest_names_into_one_row() -> None:
    events = [event(route=f"route-{index:02d}") for index in range(14) for _ in range(14 - index)]
    rows = breakdown(rolled(events).total.rows["route"])
    assert len(rows) == 10 and rows[-1]["name"] == OTHER
    assert rows[0]["name"] == "route-00" and rows[0]["requests"] == 14
    assert rows[-1]["requests"] == sum(14 - index for index in range(9, 14))
    assert sum(row["requests"] for row in rows) == len(events)


def test_distance_histogram_against_the_threshold() -> None:
    semantic = [hit(2, "semantic", distance=d) for d in (0.0, 0.005, 0.05, 0.085, 0.1)]
    looser = hit(2, "semantic", distance=0.15, threshold=0.2)  # served under `x-cache-threshold: 0.2`
    events = [*semantic, looser, hit(1), event("miss")]  # exact hits and misses have no distance
    histogram = distance_histogram(events, 0.1)
    assert histogram["edges"] == [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
    assert histogram["counts"] == [2, 0, 0, 0, 1, 0, 0, 0, 1, 1]  # each bin includes its upper edge
    assert histogram["beyond"] == 1 and histogram["hits"] == 6
    assert histogram["close_calls"] == 2  # 0.085 and 0.1; 0.15 is only 75% of its own 0.2
    assert histogram["max"] == 0.15 and histogram["p50"] == pytest.approx(0.0675)
    rolling = snapshot(rolled(events), [], now_ms=NOW, threshold=0.1)["distances"]
    assert close(rolling.pop("p50"), histogram.pop("p50")) and rolling.pop("sum") == pytest.approx(histogram.pop("sum"))
    assert rolling == histogram


def test_sparkline_is_the_last_twenty_by_time() -> None:
    events = [event(ms=float(index), ts=NOW + index) for index in range(30)]
    events[-1], events[-2] = events[-2], events[-1]  # two replicas' batches landed out of order
    points = sparkline(events)
    assert [point["ms"] for point in points] == [float(index) for index in range(10, 30)]
    expected = [{"ts": NOW + i, "ms": float(i), "outcome": "miss", "layer": None} for i in range(3)]
    assert sparkline(events[:3]) == expected


def test_snapshot_of_one_window() -> None:
    old = [event("miss", 900, ts=NOW - 120_000, source="a:1")]
    recent = [hit(2, ts=NOW - 1_000, source="a:1", model="gpt-4o"), event("miss", 800, ts=NOW, source="b:2")]
    view = snapshot(rolled([*old, *recent]), [*old, *recent], now_ms=NOW, threshold=0.1)
    assert view["summary"]["requests"] == 2 and view["summary"]["hit_rate"] == 0.5
    assert view["sources"] == 2 and view["window_s"] == 60 and view["last_event"] == NOW
    assert [row["name"] for row in view["by_model"]] == ["gpt-4o", "gpt-4o-mini"]
    assert len(view["sparkline"]) == 3  # the last requests, whatever the window
    assert view["distances"]["threshold"] == 0.1


def test_events_round_trip_through_stream_fields() -> None:
    original = hit(1.25, "semantic", distance=0.0421, threshold=0.1, saved=42, cost=0.000123, ttfb=1.5)
    fields = encode(original)
    assert all(isinstance(value, str) for value in fields.values())
    assert decode({name.encode(): value.encode() for name, value in fields.items()}) == original
    plain = event("bypass", 12.0)
    assert decode(encode(plain)) == plain
    assert decode({**fields, "v": "99"}) is None  # a newer writer: skipped, not misread
    assert decode({"v": "1", "outcome": "hit"}) is None
    assert decode({**fields, "layer": "bogus"}) is None  # a layer no window has a counter for
    unbounded = encode(event(model="m" * 100_000, route="r\n" * 50))  # as a writer before the bounds wrote it
    assert decode(unbounded) == event(model="m" * MAX_LABEL_CHARS, route="r" * (MAX_LABEL_CHARS // 2))


def test_prices_by_longest_prefix_with_overrides() -> None:
    table = PriceTable()
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.15 + 0.60)
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.50)
    assert table.cost("openai/gpt-4o", 0, 1_000_000) == pytest.approx(10.00)
    assert table.cost("my-local-llama", 1000, 1000) == 0.0
    assert table.cost("claude-sonnet-4-5-20250929", 1_000_000, 1_000_000) == pytest.approx(3.00 + 15.00)
    assert table.cost("claude-opus-4-5", 1_000_000, 0) == pytest.approx(5.00)  # not Opus 4's price
    assert table.cost("claude-opus-4-1-20250805", 1_000_000, 0) == pytest.approx(15.00)
    custom = PriceTable(parse_prices('{"my-local-llama": [1, 2], "gpt-4o": [0, 0]}'))
    assert custom.cost("my-local-llama", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert custom.cost("gpt-4o", 1000, 1000) == 0.0
    assert custom.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)


def test_prices_setting_inline_or_from_a_file(tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"house-model": [0.5, 1.5]}')
    settings = load_settings(environ={"METRICS_PRICES": str(path)}, dotenv=NO_DOTENV)
    assert settings.metrics_prices == (("house-model", 0.5, 1.5),)
    assert load_settings(environ={}, dotenv=NO_DOTENV).metrics_prices == ()
    for bad in ('{"m": [1]}', '{"m": [-1, 2]}', "[1, 2]", "{not json", str(tmp_path / "missing.json")):
        with pytest.raises(SettingsError, match=r"^METRICS_PRICES=.*expected a JSON object or the path"):
            load_settings(environ={"METRICS_PRICES": bad}, dotenv=NO_DOTENV)


_SAMPLE = re.compile(r'^[a-z_]+(\{([a-z]+="([^"\\\n]|\\["\\n])*",?)+\})? -?[0-9.e+-]+$')


def test_prometheus_text_format() -> None:
    events = [hit(2, "semantic", distance=0.035, saved=10, cost=0.5, model='we"ird\\model'),
              hit(1, saved=4, cost=0.25), event("miss", 300)]
    empty = prometheus.render({"1m": snapshot(rolled([]), [], now_ms=NOW, threshold=0.1)}, {})
    assert "latency_slayer_latency_ms{" not in empty and "None" not in empty  # no percentile of nothing
    snapshots = {label: snapshot(rolled(events, seconds), events, now_ms=NOW, threshold=0.1)
                 for label, seconds in prometheus.window_labels((60, 900, 3600)).items()}
    text = prometheus.render(snapshots, {"written": 3, "dropped": 0, "lost": 1, "queued": 0})
    lines = text.splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert all(_SAMPLE.match(line) for line in samples), [line for line in samples if not _SAMPLE.match(line)]
    assert 'latency_slayer_requests{window="1m",outcome="hit"} 2' in lines
    assert 'latency_slayer_hit_ratio{window="15m"} 0.6666666666666666' in lines
    [miss_p50] = [line for line in lines if line.startswith(
        'latency_slayer_latency_ms{window="1h",outcome="miss",quantile="0.5"} ')]
    assert close(float(miss_p50.rsplit(" ", 1)[1]), 300.0)
    assert 'latency_slayer_cost_saved_usd{window="1m"} 0.75' in lines
    assert 'latency_slayer_model_requests{window="1m",model="we\\"ird\\\\model"} 1' in lines
    assert 'latency_slayer_semantic_hit_distance_bucket{window="1m",le="0.03"} 0' in lines
    assert 'latency_slayer_semantic_hit_distance_bucket{window="1m",le="0.04"} 1' in lines
    assert 'latency_slayer_semantic_hit_distance_bucket{window="1m",le="+Inf"} 1' in lines
    assert 'latency_slayer_events_total{state="lost"} 1' in lines
    assert "# TYPE latency_slayer_semantic_hit_distance histogram" in lines
    assert "None" not in text


def test_a_background_refresh_is_no_request_of_the_hit_rate() -> None:
    served = [event("hit", layer="stale"), event("refresh", upstream=300.0), event("miss")]
    figures = summary(served)
    assert figures["outcomes"]["refresh"] == 1 and figures["layers"]["stale"] == 1
    assert figures["hit_rate"] == 0.5
    window = snapshot(rolled(served), [], now_ms=NOW, threshold=0.1)
    assert window["summary"]["hit_rate"] == 0.5 and window["summary"]["outcomes"]["refresh"] == 1
    assert [(row["requests"], row["hit_rate"]) for row in window["by_route"]] == [(2, 0.5)]
