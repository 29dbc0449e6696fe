"""Pure views of a list of events beyond the summary: per model and per route breakdowns, how close semantic
hits came to their threshold, the last latencies, and the one snapshot the dashboard and `/metrics` read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gateway.metrics.events import Event
from gateway.metrics.stats import hit_rate, in_window, latency_figures, summary

BREAKDOWN_ROWS = 10  # beyond this, the rarest names are folded into one row: model names come from clients
OTHER = "(other)"
HISTOGRAM_BINS = 10
CLOSE_CALL = 0.8  # a hit served at 80% or more of its threshold: the ones to check when tuning
SPARKLINE = 20


def breakdown(events: Sequence[Event], field: str) -> list[dict[str, Any]]:
    """One row per value of `field` ("model" or "route"), busiest first."""
    groups: dict[str, list[Event]] = {}
    for event in events:
        groups.setdefault(getattr(event, field), []).append(event)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    if len(ranked) > BREAKDOWN_ROWS:
        rest = [event for _, group in ranked[BREAKDOWN_ROWS - 1:] for event in group]
        ranked = [*ranked[:BREAKDOWN_ROWS - 1], (OTHER, rest)]
    return [_row(name, group) for name, group in ranked]


def _row(name: str, events: list[Event]) -> dict[str, Any]:
    hits = [event for event in events if event.hit]
    misses = [event.latency_ms for event in events if event.outcome == "miss"]
    return {
        "name": name,
        "requests": len(events),
        "hits": len(hits),
        "hit_rate": hit_rate(len(hits), len(events)),
        "p50_hit": latency_figures([event.latency_ms for event in hits])["p50"],
        "p50_miss": latency_figures(misses)["p50"],
        "tokens_saved": sum(event.tokens_saved for event in hits),
        "cost_saved": sum(event.cost_saved for event in hits),
    }


def distance_histogram(events: Sequence[Event], threshold: float, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Semantic hits by cosine distance, in `bins` equal bins from 0 to `threshold`, each including its upper
    edge (as Prometheus' `le`); hits served beyond it (a looser `x-cache-threshold`) are counted apart. A close
    call is a hit at 80% or more of the threshold it was served under."""
    counts = [0] * bins
    beyond = 0
    close_calls = 0
    distances = []
    for event in events:
        if not event.hit or event.layer != "semantic" or event.distance is None:
            continue
        distances.append(event.distance)
        if event.distance > threshold:
            beyond += 1
        else:
            counts[min(max(math.ceil(event.distance / threshold * bins) - 1, 0), bins - 1) if threshold > 0 else 0] += 1
        limit = event.threshold if event.threshold is not None else threshold
        if limit > 0 and event.distance >= CLOSE_CALL * limit:
            close_calls += 1
    return {
        "threshold": threshold,
        "edges": [round(threshold * index / bins, 6) for index in range(bins + 1)],
        "counts": counts,
        "beyond": beyond,
        "hits": len(distances),
        "close_calls": close_calls,
        "sum": sum(distances),
        "p50": latency_figures(distances)["p50"],
        "max": max(distances, default=None),
    }


def sparkline(events: Sequence[Event], points: int = SPARKLINE) -> list[dict[str, Any]]:
    """The last `points` requests by time. Replicas append in batches, so the tail is sorted first."""
    tail = sorted(events[-points * 4:], key=lambda event: event.ts)[-points:]
    return [{"ts": event.ts, "ms": event.latency_ms, "outcome": event.outcome, "layer": event.layer}
            for event in tail]


def snapshot(events: Sequence[Event], *, now_ms: int, window_ms: int, threshold: float) -> dict[str, Any]:
    """Everything the dashboard shows for one window; `events` is the sink's recent history, oldest first."""
    recent = in_window(events, now_ms, window_ms)
    return {
        "now": now_ms,
        "window_s": window_ms // 1000,
        "summary": summary(recent),
        "by_model": breakdown(recent, "model"),
        "by_route": breakdown(recent, "route"),
        "distances": distance_histogram(recent, threshold),
        "sparkline": sparkline(events),
        "sources": len({event.source for event in recent}),
        "last_event": events[-1].ts if events else None,
    }
