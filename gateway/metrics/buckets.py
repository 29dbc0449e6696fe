"""Request latency in Prometheus' fixed buckets, per API, outcome and layer: what `/metrics` exposes as the
`latency_slayer_request_duration_seconds` histogram, from which Grafana computes any quantile of any set of
series (`histogram_quantile` over buckets summed across APIs, outcomes or replicas). Counts and the sum (in whole
microseconds) are integers, so a window adds and subtracts them exactly, like the rest of its tally."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from gateway.metrics.events import Event
from gateway.metrics.labels import MAX_NAMES, OTHER, bounded

# Seconds: a cache hit takes a millisecond or two, a miss as long as the model writes.
EDGES_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_EDGES_MS = [edge * 1000 for edge in EDGES_S]
NO_LAYER = "none"


class Buckets:
    __slots__ = ("count", "counts", "sum_us")

    def __init__(self) -> None:
        self.counts = [0] * (len(EDGES_S) + 1)  # the last: beyond the last edge
        self.count = 0
        self.sum_us = 0

    def add(self, latency_ms: float) -> None:
        self.counts[bisect_left(_EDGES_MS, latency_ms)] += 1  # each bucket holds its upper edge, as `le` says
        self.count += 1
        self.sum_us += round(latency_ms * 1000)

    def merge(self, other: Buckets, sign: int) -> None:
        self.counts = [mine + sign * theirs for mine, theirs in zip(self.counts, other.counts, strict=True)]
        self.count += sign * other.count
        self.sum_us += sign * other.sum_us


class Durations:
    """Buckets by (API, outcome, layer). The API is the event's name, which the stream does not bound: past
    MAX_NAMES of them, the rest count as OTHER."""

    __slots__ = ("by_key",)

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str, str], Buckets] = {}

    def add(self, event: Event) -> None:
        key = (bounded(event.event), event.outcome, event.layer or NO_LAYER)
        buckets = self.by_key.get(key)
        if buckets is None:
            apis = {api for api, _, _ in self.by_key}
            if key[0] not in apis and len(apis) >= MAX_NAMES:
                key = (OTHER, key[1], key[2])
            buckets = self.by_key.setdefault(key, Buckets())
        buckets.add(event.latency_ms)

    def merge(self, other: Durations, sign: int) -> None:
        for key, theirs in other.by_key.items():
            mine = self.by_key.get(key) or self.by_key.setdefault(key, Buckets())
            mine.merge(theirs, sign)
            if not mine.count:
                del self.by_key[key]

    def rows(self) -> list[dict[str, Any]]:
        """One row per (API, outcome, layer) in the window, in a stable order: cumulative counts per edge of
        EDGES_S, then the count (the `+Inf` bucket) and the sum in seconds."""
        rows = []
        for (api, outcome, layer), buckets in sorted(self.by_key.items()):
            cumulative, running = [], 0
            for count in buckets.counts[:-1]:
                running += count
                cumulative.append(running)
            rows.append({"api": api, "outcome": outcome, "layer": layer, "buckets": cumulative,
                         "count": buckets.count, "sum": buckets.sum_us / 1e6})
        return rows
