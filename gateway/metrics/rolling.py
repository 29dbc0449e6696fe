"""One of the dashboard's windows (the last minute, 15 minutes or hour) as BUCKETS buckets, each a 60th of it,
and their running total. New events are added to their bucket and to the total; a bucket that leaves the window
is subtracted from the total. Reading the window reads the total: its cost does not depend on how many events
the window holds, and neither does its memory (BUCKETS + 1 tallies of bounded size: histograms of fixed bins,
at most MAX_NAMES models and routes plus OTHER).

The window is whole buckets: the current one and the BUCKETS - 1 before it, so it spans between 59/60 of its
length and all of it (the last 59 to 60 seconds, 14 3/4 to 15 minutes, 59 to 60 minutes)."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.metrics.events import Event
from gateway.metrics.labels import NameLimit
from gateway.metrics.tally import Tally

BUCKETS = 60


class RollingWindow:
    def __init__(self, seconds: int, *, threshold: float, max_events: int) -> None:
        self.seconds = seconds
        self._width_ms = seconds * 1000 // BUCKETS
        self._threshold = threshold
        self._max_events = max_events
        self._buckets: dict[int, Tally] = {}
        self._current = 0  # the index (time // width) of the bucket of now
        self.total = Tally()

    def advance(self, now_ms: int) -> None:
        """Subtract the buckets that left the window by `now_ms` (a clock set back does not bring them back)."""
        self._current = max(self._current, now_ms // self._width_ms)
        for index in [index for index in self._buckets if index <= self._current - BUCKETS]:
            self._drop(index)

    def add(self, events: Iterable[Event], now_ms: int) -> None:
        """Events newly read, in any order: those older than the window are skipped; those stamped ahead of the
        clock (a replica's runs fast) count as now, so the window never holds more than BUCKETS buckets."""
        self.advance(now_ms)
        oldest = self._current - BUCKETS + 1
        models, routes = NameLimit(self.total.rows["model"]), NameLimit(self.total.rows["route"])
        batch: dict[int, Tally] = {}  # per bucket, so each bucket and the total take one merge per read
        for event in events:
            index = min(event.ts // self._width_ms, self._current)
            if index >= oldest:
                tally = batch.get(index) or batch.setdefault(index, Tally())
                tally.add(event, threshold=self._threshold, model=models(event.model), route=routes(event.route))
        for index, tally in batch.items():
            self.total.merge(tally)
            bucket = self._buckets.get(index)
            if bucket is None:
                self._buckets[index] = tally
            else:
                bucket.merge(tally)
        # Like the sink, which keeps its last METRICS_MAXLEN events, forget the oldest beyond that many.
        while self.total.requests > self._max_events and len(self._buckets) > 1:
            self._drop(min(self._buckets))

    def _drop(self, index: int) -> None:
        self.total.merge(self._buckets.pop(index), -1)

    def buckets(self) -> int:
        return len(self._buckets)

    def max_distance(self) -> float | None:
        """The farthest semantic hit, from the buckets: a maximum cannot be subtracted from a running total."""
        return max((bucket.distances.max for bucket in self._buckets.values() if bucket.distances.max is not None),
                   default=None)
