"""The request latency histogram of `/metrics`, read back with prometheus-client's own parser: cumulative buckets
per API, outcome and layer, `+Inf` equal to the count, the sum in seconds; a window forgets what left it; the API
label is bounded. And the request id in the event schema, which older events lack."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import prometheus
from gateway.metrics.aggregate import snapshot
from gateway.metrics.buckets import EDGES_S
from gateway.metrics.events import decode, encode
from gateway.metrics.labels import MAX_NAMES, OTHER
from gateway.metrics.rolling import RollingWindow
from tests.support.events import NOW, event

FAMILY = "latency_slayer_request_duration_seconds"


def exposition(events, *, now: int = NOW, window: RollingWindow | None = None) -> str:
    window = window or RollingWindow(60, threshold=0.1, max_events=1_000_000)
    window.add(events, now)
    return prometheus.render({"1m": snapshot(window, [], now_ms=now, threshold=0.1)}, {})


def histograms(text: str) -> dict[tuple[str, str, str], dict]:
    """Per (api, outcome, layer): its buckets by `le`, count and sum, as Prometheus reads them."""
    [family] = [family for family in text_string_to_metric_families(text) if family.name == FAMILY]
    assert family.type == "histogram"
    series: dict[tuple[str, str, str], dict] = defaultdict(lambda: {"buckets": {}})
    for sample in family.samples:
        labels = dict(sample.labels)
        assert labels.pop("window") == "1m"
        key = (labels.pop("api"), labels.pop("outcome"), labels.pop("layer"))
        if sample.name.endswith("_bucket"):
            series[key]["buckets"][labels.pop("le")] = sample.value
        else:
            series[key][sample.name.removeprefix(FAMILY + "_")] = sample.value
        assert labels == {}
    return dict(series)


def test_latency_buckets_by_api_outcome_and_layer() -> None:
    events = [event("hit", 0.5, layer="exact"), event("hit", 2.0, layer="exact"), event("hit", 3, layer="semantic"),
              event("miss", 300), event("miss", 1000), event("miss", 200_000), event("error", 50)]
    text = exposition(events)
    assert all(family.name for family in text_string_to_metric_families(text))  # the whole page parses
    series = histograms(text)
    assert set(series) == {("chat", "hit", "exact"), ("chat", "hit", "semantic"), ("chat", "miss", "none"),
                           ("chat", "error", "none")}
    exact, misses = series[("chat", "hit", "exact")], series[("chat", "miss", "none")]
    assert list(exact["buckets"]) == [f"{edge:g}" for edge in EDGES_S] + ["+Inf"]
    assert (exact["buckets"]["0.001"], exact["buckets"]["0.0025"], exact["buckets"]["+Inf"]) == (1, 2, 2)
    assert (exact["count"], exact["sum"]) == (2, pytest.approx(0.0025))
    # A value on an edge is in that edge's bucket (`le`); one beyond the last edge only in +Inf.
    assert (misses["buckets"]["0.25"], misses["buckets"]["0.5"], misses["buckets"]["1"]) == (0, 1, 2)
    assert (misses["buckets"]["120"], misses["buckets"]["+Inf"], misses["count"]) == (2, 3, 3)
    for figures in series.values():
        counts = list(figures["buckets"].values())
        assert counts == sorted(counts) and counts[-1] == figures["count"]  # cumulative


def test_a_window_forgets_what_left_it() -> None:
    window = RollingWindow(60, threshold=0.1, max_events=1_000_000)
    exposition([event("hit", 1, layer="exact")], window=window)
    assert set(histograms(exposition([event("miss", 100, ts=NOW + 30_000)], now=NOW + 30_000, window=window))) == {
        ("chat", "hit", "exact"), ("chat", "miss", "none")}
    later = exposition([], now=NOW + 61_000, window=window)
    assert set(histograms(later)) == {("chat", "miss", "none")}


def test_the_api_label_is_bounded() -> None:
    events = [event("miss", 10)._replace(event=f"api-{number}") for number in range(MAX_NAMES + 5)]
    apis = {api for api, _, _ in histograms(exposition(events))}
    assert len(apis) == MAX_NAMES + 1 and OTHER in apis


def test_the_request_id_travels_in_the_event_and_older_events_still_read() -> None:
    sent = event("hit", 1, layer="exact")._replace(request_id="req-abc:1")
    assert decode(encode(sent)) == sent
    older = {name: value for name, value in encode(sent).items() if name != "request_id"}
    assert decode(older) == sent._replace(request_id="")
    forged = {**encode(sent), "request_id": "a\nforged line"}
    assert decode(forged).request_id == ""
