"""Per-route adaptive thresholds (the original design's "cold-start tuning"): a route starts strict and
loosens only as evidence that its hits are right comes in; one wrong hit tightens it at once.

Evidence is a semantic hit judged good or bad at the distance it was (or would have been) served: client
feedback, or shadow checks that compare a cached answer with a fresh upstream one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AdaptiveThresholds:
    start: float  # where every route begins: strict
    ceiling: float  # never looser than this, however good the evidence
    step: float = 0.005  # how far one piece of good evidence at the edge loosens a route
    routes: dict[str, float] = field(default_factory=dict)

    def threshold(self, route: str) -> float:
        return self.routes.get(route, self.start)

    def record(self, route: str, distance: float, good: bool) -> float:
        """Take one judged hit into account; returns the route's new threshold."""
        current = self.threshold(route)
        if good:
            # Only evidence near the edge says anything about loosening: a good hit far inside the
            # threshold would have been served anyway.
            if distance >= current - 2 * self.step:
                current = min(self.ceiling, max(current, distance) + self.step)
        else:
            # Tighten below the wrong hit, by at least half the slack, so a second wrong hit nearby is unlikely.
            current = max(0.0, min(current / 2 + distance / 2, distance) - self.step)
        self.routes[route] = current
        return current
