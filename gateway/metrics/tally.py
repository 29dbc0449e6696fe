"""What a set of events adds up to, in a form that adds and subtracts exactly: counters, integer sums and
histograms, overall, per model and per route. A window keeps the tally of each of its buckets and their running
total instead of their events: a bucket's events are added to both as they arrive, and the bucket is subtracted
from the total when it leaves the window."""

from __future__ import annotations

import math

from gateway.metrics.buckets import Durations
from gateway.metrics.events import BACKGROUND, LAYERS, ORIGINS, OUTCOMES, Event
from gateway.metrics.histogram import DISTANCE, LATENCY, ROW_LATENCY, Histogram

COST_SCALE = 10**8  # cost in units of 1e-8 US dollars, as the stream keeps it: integers never drift
DISTANCE_SCALE = 10**6  # distances summed in millionths: the stream keeps 5 decimals, so nothing is lost
DISTANCE_BINS = 10
CLOSE_CALL = 0.8  # a hit served at 80% or more of its threshold: the ones to check when tuning
KINDS = ("model", "route")


def distance_bin(distance: float, threshold: float) -> int:
    """Which of DISTANCE_BINS equal bins from 0 to `threshold` holds `distance` (each includes its upper edge,
    as Prometheus' `le`); DISTANCE_BINS for a hit served beyond it (a looser `x-cache-threshold`)."""
    if distance > threshold:
        return DISTANCE_BINS
    return min(max(math.ceil(distance / threshold * DISTANCE_BINS) - 1, 0), DISTANCE_BINS - 1) if threshold > 0 else 0


def close_call(distance: float, served_under: float | None, threshold: float) -> bool:
    limit = served_under if served_under is not None else threshold
    return limit > 0 and distance >= CLOSE_CALL * limit


class Distances:
    """The semantic hits' cosine distances against the dashboard's threshold."""

    __slots__ = ("close_calls", "counts", "histogram", "hits", "max", "sum_units")

    def __init__(self) -> None:
        self.counts = [0] * (DISTANCE_BINS + 1)  # the last: beyond the threshold
        self.hits = 0
        self.close_calls = 0
        self.sum_units = 0
        self.histogram = Histogram(DISTANCE)
        self.max: float | None = None  # kept by a bucket; a running total cannot take a maximum back

    def add(self, distance: float, served_under: float | None, threshold: float) -> None:
        self.counts[distance_bin(distance, threshold)] += 1
        self.hits += 1
        self.close_calls += close_call(distance, served_under, threshold)
        self.sum_units += round(distance * DISTANCE_SCALE)
        self.histogram.add(distance)
        self.max = distance if self.max is None else max(self.max, distance)

    def merge(self, other: Distances, sign: int) -> None:
        self.counts = [mine + sign * theirs for mine, theirs in zip(self.counts, other.counts, strict=True)]
        self.hits += sign * other.hits
        self.close_calls += sign * other.close_calls
        self.sum_units += sign * other.sum_units
        self.histogram.merge(other.histogram, sign)
        if sign > 0 and other.max is not None:
            self.max = other.max if self.max is None else max(self.max, other.max)


class Row:
    """One model's or one route's part of a tally."""

    __slots__ = ("cost_units", "hit_ms", "hits", "miss_ms", "requests", "tokens_saved")

    def __init__(self) -> None:
        self.requests = 0
        self.hits = 0
        self.tokens_saved = 0
        self.cost_units = 0
        self.hit_ms = Histogram(ROW_LATENCY)
        self.miss_ms = Histogram(ROW_LATENCY)

    def add(self, event: Event, cost_units: int) -> None:
        self.requests += 1
        if event.outcome == "hit":
            self.hits += 1
            self.tokens_saved += event.tokens_saved
            self.cost_units += cost_units
            self.hit_ms.add(event.latency_ms)
        elif event.outcome == "miss":
            self.miss_ms.add(event.latency_ms)

    def merge(self, other: Row, sign: int = 1) -> None:
        self.requests += sign * other.requests
        self.hits += sign * other.hits
        self.tokens_saved += sign * other.tokens_saved
        self.cost_units += sign * other.cost_units
        self.hit_ms.merge(other.hit_ms, sign)
        self.miss_ms.merge(other.miss_ms, sign)


class Tally:
    __slots__ = ("background", "cost_units", "distances", "durations", "latency", "layers", "outcomes", "requests",
                 "rows", "sources", "tokens_saved", "ttfb", "upstream", "yields")

    def __init__(self) -> None:
        self.requests = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.background = {kind: [0, 0] for kind in BACKGROUND}  # upstream calls and tokens of each kind
        # Of each origin: the answers it wrote (calls that brought one back, each stored where the cache may) and
        # the hits later served from them, once a request
        self.yields = {kind: [0, 0] for kind in ORIGINS}
        self.layers = dict.fromkeys(LAYERS, 0)
        self.latency = {"all": Histogram(LATENCY), "hit": Histogram(LATENCY), "miss": Histogram(LATENCY)}
        self.ttfb = {"hit": Histogram(LATENCY), "miss": Histogram(LATENCY)}
        self.upstream = Histogram(LATENCY)
        self.durations = Durations()  # what `/metrics` exposes as a Prometheus histogram
        self.tokens_saved = 0
        self.cost_units = 0
        self.distances = Distances()
        self.sources: dict[str, int] = {}  # events per worker: the workers reporting
        self.rows: dict[str, dict[str, Row]] = {kind: {} for kind in KINDS}

    def add(self, event: Event, *, threshold: float, model: str, route: str) -> None:
        """Count `event` under `model` and `route`: its own names, or OTHER when the window has enough."""
        self.requests += 1
        self.outcomes[event.outcome] += 1
        self.latency["all"].add(event.latency_ms)
        self.durations.add(event)
        cost_units = round(event.cost_saved * COST_SCALE)
        if event.outcome in ("hit", "miss"):
            self.latency[event.outcome].add(event.latency_ms)
            if event.ttfb_ms is not None:
                self.ttfb[event.outcome].add(event.ttfb_ms)
        self._yield(event)
        if event.outcome == "hit":
            self.layers[event.layer or "exact"] += 1
            self.tokens_saved += event.tokens_saved
            self.cost_units += cost_units
            if event.layer == "semantic" and event.distance is not None:
                self.distances.add(event.distance, event.threshold, threshold)
        if event.upstream_ms is not None:
            self.upstream.add(event.upstream_ms)
        self.sources[event.source] = self.sources.get(event.source, 0) + 1
        if event.outcome == "refresh":
            spent = self.background.get(event.event)
            if spent is not None:
                spent[0] += 1
                spent[1] += event.prompt_tokens + event.completion_tokens
            return  # no client asked it: each model's and route's hit rate is of their clients' requests
        for kind, name in (("model", model), ("route", route)):
            rows = self.rows[kind]
            (rows.get(name) or rows.setdefault(name, Row())).add(event, cost_units)

    def _yield(self, event: Event) -> None:
        figures = self.yields.get(event.origin)
        if figures is None:
            return
        if event.outcome == "hit":
            figures[1] += 1
        elif event.outcome in ("miss", "refresh"):  # an answer came back, to be stored as the origin's
            figures[0] += 1

    def _histograms(self) -> tuple[Histogram, ...]:
        return (*self.latency.values(), *self.ttfb.values(), self.upstream)

    def merge(self, other: Tally, sign: int = 1) -> None:
        """Add `other` (sign 1), or take away a tally that was added before (sign -1): what no event is left in
        (a row, a worker) is removed, so a running total holds only what its window still counts."""
        self.requests += sign * other.requests
        for outcome, count in other.outcomes.items():
            self.outcomes[outcome] += sign * count
        for layer, count in other.layers.items():
            self.layers[layer] += sign * count
        for kind, (calls, tokens) in other.background.items():
            self.background[kind][0] += sign * calls
            self.background[kind][1] += sign * tokens
        for kind, (written, hits) in other.yields.items():
            self.yields[kind][0] += sign * written
            self.yields[kind][1] += sign * hits
        for mine, theirs in zip(self._histograms(), other._histograms(), strict=True):
            mine.merge(theirs, sign)
        self.durations.merge(other.durations, sign)
        self.tokens_saved += sign * other.tokens_saved
        self.cost_units += sign * other.cost_units
        self.distances.merge(other.distances, sign)
        for source, count in other.sources.items():
            left = self.sources.get(source, 0) + sign * count
            if left:
                self.sources[source] = left
            else:
                del self.sources[source]
        for kind, rows in self.rows.items():
            for name, theirs in other.rows[kind].items():
                mine = rows.get(name) or rows.setdefault(name, Row())
                mine.merge(theirs, sign)
                if not mine.requests:
                    del rows[name]
