"""The one snapshot the dashboard and `/metrics` read for a window, from its running tally: the summary, per
model and per route rows, how close semantic hits came to their threshold, and the last latencies. Its cost is
that of the tally's bins and rows, whatever the number of events. Also the distance histogram of a plain list
of events, for the demo's summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.metrics.events import Event
from gateway.metrics.labels import OTHER
from gateway.metrics.rolling import RollingWindow
from gateway.metrics.stats import asked, hit_rate, latency_figures, wait_saved
from gateway.metrics.tally import (
    COST_SCALE,
    DISTANCE_BINS,
    DISTANCE_SCALE,
    Distances,
    Row,
    Tally,
    close_call,
    distance_bin,
)

BREAKDOWN_ROWS = 10  # beyond this, the rarest names are folded into one row
SPARKLINE = 20


def summary(tally: Tally) -> dict[str, Any]:
    """The figures of `stats.summary`, percentiles from histograms (within their 2 %)."""
    latency = {outcome: histogram.figures() for outcome, histogram in tally.latency.items()}
    return {
        "requests": tally.requests,
        "outcomes": dict(tally.outcomes),
        "layers": dict(tally.layers),
        "hit_rate": hit_rate(tally.outcomes["hit"], asked(tally.outcomes)),
        "latency": latency,
        "ttfb": {outcome: histogram.figures() for outcome, histogram in tally.ttfb.items()},
        "upstream": tally.upstream.figures(),
        "tokens_saved": tally.tokens_saved,
        "cost_saved": _dollars(tally.cost_units),
        "wait_saved_ms": wait_saved(latency),
        "background": {kind: {"calls": calls, "tokens": tokens} for kind, (calls, tokens) in tally.background.items()},
        "yield": {kind: {"written": written, "hits": hits} for kind, (written, hits) in tally.yields.items()},
    }


def _dollars(units: int) -> float:
    return units / COST_SCALE


def breakdown(rows: dict[str, Row]) -> list[dict[str, Any]]:
    """One row per model or route, busiest first, then OTHER: the names beyond the window's limit and, past
    BREAKDOWN_ROWS rows, the rarest."""
    ranked = sorted(((name, row) for name, row in rows.items() if name != OTHER),
                    key=lambda item: (-item[1].requests, item[0]))
    rest = [rows[OTHER]] if OTHER in rows else []
    if len(ranked) + bool(rest) > BREAKDOWN_ROWS:
        rest += [row for _, row in ranked[BREAKDOWN_ROWS - 1:]]
        ranked = ranked[:BREAKDOWN_ROWS - 1]
    if rest:
        folded = Row()
        for row in rest:
            folded.merge(row)
        ranked.append((OTHER, folded))
    return [_row(name, row) for name, row in ranked]


def _row(name: str, row: Row) -> dict[str, Any]:
    return {
        "name": name,
        "requests": row.requests,
        "hits": row.hits,
        "hit_rate": hit_rate(row.hits, row.requests),
        "p50_hit": row.hit_ms.quantiles(0.5)[0],
        "p50_miss": row.miss_ms.quantiles(0.5)[0],
        "tokens_saved": row.tokens_saved,
        "cost_saved": _dollars(row.cost_units),
    }


def _edges(threshold: float) -> list[float]:
    return [round(threshold * index / DISTANCE_BINS, 6) for index in range(DISTANCE_BINS + 1)]


def distances(tally: Distances, threshold: float, farthest: float | None) -> dict[str, Any]:
    """Semantic hits by cosine distance in DISTANCE_BINS equal bins from 0 to `threshold`, those served beyond
    it apart, and the close calls: hits at 80% or more of the threshold they were served under."""
    return {
        "threshold": threshold,
        "edges": _edges(threshold),
        "counts": tally.counts[:DISTANCE_BINS],
        "beyond": tally.counts[DISTANCE_BINS],
        "hits": tally.hits,
        "close_calls": tally.close_calls,
        "sum": tally.sum_units / DISTANCE_SCALE,
        "p50": tally.histogram.quantiles(0.5)[0],
        "max": farthest,
    }


def distance_histogram(events: Sequence[Event], threshold: float) -> dict[str, Any]:
    """`distances` of a list of events, exactly."""
    counts = [0] * (DISTANCE_BINS + 1)
    values: list[float] = []
    close_calls = 0
    for event in events:
        if event.hit and event.layer == "semantic" and event.distance is not None:
            counts[distance_bin(event.distance, threshold)] += 1
            close_calls += close_call(event.distance, event.threshold, threshold)
            values.append(event.distance)
    return {
        "threshold": threshold,
        "edges": _edges(threshold),
        "counts": counts[:DISTANCE_BINS],
        "beyond": counts[DISTANCE_BINS],
        "hits": len(values),
        "close_calls": close_calls,
        "sum": sum(values),
        "p50": latency_figures(values)["p50"],
        "max": max(values, default=None),
    }


def sparkline(events: Sequence[Event], points: int = SPARKLINE) -> list[dict[str, Any]]:
    """The last `points` requests by time. Replicas append in batches, so the tail is sorted first."""
    tail = sorted(events[-points * 4:], key=lambda event: event.ts)[-points:]
    return [{"ts": event.ts, "ms": event.latency_ms, "outcome": event.outcome, "layer": event.layer}
            for event in tail]


def snapshot(window: RollingWindow, tail: Sequence[Event], *, now_ms: int, threshold: float) -> dict[str, Any]:
    """Everything the dashboard shows for one window, advanced to `now_ms`; `tail` is the last events read, oldest
    first, for the sparkline."""
    window.advance(now_ms)
    total = window.total
    return {
        "now": now_ms,
        "window_s": window.seconds,
        "summary": summary(total),
        "by_model": breakdown(total.rows["model"]),
        "by_route": breakdown(total.rows["route"]),
        "distances": distances(total.distances, threshold, window.max_distance()),
        "durations": total.durations.rows(),
        "sparkline": sparkline(tail),
        "sources": len(total.sources),
        "last_event": tail[-1].ts if tail else None,
    }
