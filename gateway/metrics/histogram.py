"""Mergeable log-spaced histograms: a window's percentiles come from counts per bin rather than from every
value, so they cost the same however many events the window holds, and two histograms add or subtract bin by bin.

With a layout of relative error e, GAMMA = (1 + e) / (1 - e): a value v above the floor falls in bin
i = ceil(log(v / floor) / log(GAMMA)), which holds the values in (floor·GAMMA^(i-1), floor·GAMMA^i] and answers
for each of them with 2·floor·GAMMA^i / (GAMMA + 1): within (GAMMA - 1) / (GAMMA + 1) = e of it. A percentile
interpolates between two such answers (as numpy's default interpolates between ranks), so it too is within e of
the exact percentile. Values at or below the floor answer as 0 (off by at most the floor); values beyond the
ceiling count in the last bin. The window's latencies and distances are kept within RELATIVE_ERROR (2 %); each
model's and route's latencies, of which the dashboard shows a median, within ROW_ERROR (5 %), in fewer bins."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RELATIVE_ERROR = 0.02
ROW_ERROR = 0.05


class Layout:
    def __init__(self, floor: float, ceiling: float, relative_error: float) -> None:
        gamma = (1 + relative_error) / (1 - relative_error)
        self.floor = floor
        self.relative_error = relative_error
        self._log_gamma = math.log(gamma)
        self.bins = math.ceil(math.log(ceiling / floor) / self._log_gamma) + 1
        upper = floor * gamma ** np.arange(self.bins)
        self.values = np.concatenate(([0.0], 2 * upper[1:] / (gamma + 1)))  # what each bin answers with

    def index(self, value: float) -> int:
        if value <= self.floor:
            return 0
        return min(math.ceil(math.log(value / self.floor) / self._log_gamma), self.bins - 1)


LATENCY = Layout(0.01, 1e7, RELATIVE_ERROR)  # milliseconds, 10 µs to 2.8 hours: 520 bins
ROW_LATENCY = Layout(0.01, 1e7, ROW_ERROR)  # 209 bins
DISTANCE = Layout(1e-5, 2.0, RELATIVE_ERROR)  # cosine distance, which the stream keeps to 5 decimals: 307 bins


class Histogram:
    __slots__ = ("_counts", "_layout", "count")

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._counts: np.ndarray | None = None  # allocated on the first value: most rows never see one
        self.count = 0

    def add(self, value: float) -> None:
        if self._counts is None:
            self._counts = np.zeros(self._layout.bins, np.int32)
        self._counts[self._layout.index(value)] += 1
        self.count += 1

    def merge(self, other: Histogram, sign: int = 1) -> None:
        """Add `other` (sign 1), or take away values that were added with it (sign -1)."""
        if other._counts is None:
            return
        if self._counts is None:
            self._counts = np.zeros(self._layout.bins, np.int32)
        if sign > 0:
            self._counts += other._counts
        else:
            self._counts -= other._counts
        self.count += sign * other.count
        if not self.count:
            self._counts = None  # a running total that emptied gives its memory back

    def quantiles(self, *qs: float) -> list[float | None]:
        """The `qs` quantiles (0-1), interpolated between ranks like `stats.percentile`."""
        if self._counts is None or not self.count:
            return [None for _ in qs]
        positions = [(self.count - 1) * q for q in qs]
        ranks = [rank for position in positions for rank in (int(position), min(int(position) + 1, self.count - 1))]
        # What the bin of each rank-th smallest value answers with, found for all the ranks in one pass.
        values = self._layout.values[np.searchsorted(np.cumsum(self._counts), ranks, side="right")].tolist()
        return [below + (above - below) * (position - int(position))
                for position, below, above in zip(positions, values[::2], values[1::2], strict=True)]

    def figures(self) -> dict[str, Any]:
        """The shape of `stats.latency_figures`."""
        p50, p95 = self.quantiles(0.5, 0.95)
        return {"count": self.count, "p50": p50, "p95": p95}
