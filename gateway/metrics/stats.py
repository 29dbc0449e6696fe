"""Pure, exact figures over a list of events: percentiles and the summary that the dashboard's table, its
cards and `/metrics` show (which compute it from histograms, gateway/metrics/aggregate.py), for the demo's
report. Hit rate is hits over every request (misses, bypasses and errors too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.metrics.events import LAYERS, OUTCOMES, Event


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q` quantile (0-1) of sorted values, interpolated linearly between ranks (numpy's default)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_figures(values: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"count": len(ordered), "p50": percentile(ordered, 0.50), "p95": percentile(ordered, 0.95)}


def hit_rate(hits: int, requests: int) -> float | None:
    return hits / requests if requests else None


def asked(outcomes: dict[str, int]) -> int:
    """The events that were clients' requests: a background refresh is none."""
    return sum(outcomes.values()) - outcomes["refresh"]


def summary(events: Sequence[Event]) -> dict[str, Any]:
    outcomes = dict.fromkeys(OUTCOMES, 0)
    layers = dict.fromkeys(LAYERS, 0)
    hit_ms: list[float] = []
    miss_ms: list[float] = []
    hit_ttfb: list[float] = []
    miss_ttfb: list[float] = []
    upstream_ms: list[float] = []
    tokens_saved = 0
    cost_saved = 0.0
    for event in events:
        outcomes[event.outcome] += 1
        if event.outcome == "hit":
            layers[event.layer or "exact"] += 1
            hit_ms.append(event.latency_ms)
            tokens_saved += event.tokens_saved
            cost_saved += event.cost_saved
            if event.ttfb_ms is not None:
                hit_ttfb.append(event.ttfb_ms)
        elif event.outcome == "miss":
            miss_ms.append(event.latency_ms)
            if event.ttfb_ms is not None:
                miss_ttfb.append(event.ttfb_ms)
        if event.upstream_ms is not None:
            upstream_ms.append(event.upstream_ms)
    latency = {"all": latency_figures([event.latency_ms for event in events]),
               "hit": latency_figures(hit_ms), "miss": latency_figures(miss_ms)}
    return {
        "requests": len(events),
        "outcomes": outcomes,
        "layers": layers,
        "hit_rate": hit_rate(outcomes["hit"], asked(outcomes)),
        "latency": latency,
        "ttfb": {"hit": latency_figures(hit_ttfb), "miss": latency_figures(miss_ttfb)},
        "upstream": latency_figures(upstream_ms),
        "tokens_saved": tokens_saved,
        "cost_saved": cost_saved,
        "wait_saved_ms": wait_saved(latency),
    }


def wait_saved(latency: dict[str, Any]) -> float:
    """Time the hits' callers did not spend waiting: each hit against the typical miss of the window."""
    hit, miss = latency["hit"], latency["miss"]
    if not hit["count"] or not miss["count"]:
        return 0.0
    return float(hit["count"] * max(miss["p50"] - hit["p50"], 0.0))
