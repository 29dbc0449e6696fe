"""Adaptive thresholds (the original design's "cold-start tuning"): a scope starts strict and loosens only as
evidence that its hits are right comes in; one wrong hit tightens it at once.

Evidence is a semantic hit judged good or bad at the distance it was (or would have been) served: client
feedback, or shadow checks that compare a cached answer with a fresh upstream one. This is only the rule; the
thresholds themselves are kept per scope by `gateway.cache.learning`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdaptiveThresholds:
    start: float  # where every scope begins: strict
    ceiling: float  # never looser than this, however good the evidence
    step: float = 0.005  # how far one piece of good evidence at the edge loosens a scope

    @property
    def floor(self) -> float:
        """Never stricter than this, however bad the evidence. A wrong hit very close to its cached prompt (at
        distance 0, say: the same words in another case) shows the embedder cannot tell the two apart, which no
        threshold fixes short of turning the semantic layer off; and on a shared route any one caller's rating
        would turn it off for everyone. Half the start keeps the layer alive while still tightening visibly."""
        return min(self.start, self.ceiling) / 2

    def next(self, current: float, distance: float, good: bool) -> float:
        """The threshold after one judged hit at `distance` under `current`."""
        if good:
            # Only evidence near the edge says anything about loosening: a good hit far inside the
            # threshold would have been served anyway.
            if distance >= current - 2 * self.step:
                return min(self.ceiling, max(current, distance) + self.step)
            return current
        # Tighten below the wrong hit, by at least half the slack, so a second wrong hit nearby is unlikely.
        return min(current, max(self.floor, min(current / 2 + distance / 2, distance) - self.step))
