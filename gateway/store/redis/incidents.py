"""Data under the cache's own names that it did not put there: another index under INDEX_NAME, a key of another
type or size where a vector set belongs. A request must not fail for it, nor the cache go quietly blind: each such
place is one incident, logged once as an error when found and once when it is gone, and reported by the store's
`health` (so `/healthz` says degraded) while it lasts. The store bypasses what it touches meanwhile."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("latency_slayer.store")

REMEMBERED = 32  # places at once: enough to tell an operator what is wrong without a log line per foreign key


class Incidents:
    def __init__(self) -> None:
        self._open: dict[str, str] = {}  # place -> what is wrong there

    def __bool__(self) -> bool:
        return bool(self._open)

    def places(self) -> list[str]:
        return list(self._open)

    def found(self, place: str, problem: str) -> None:
        """`problem` is a sentence or more: what is wrong at `place`, and how to fix it."""
        if place in self._open or len(self._open) >= REMEMBERED:
            return
        self._open[place] = problem
        log.error("%s The cache bypasses %s until then.", problem, place)

    def gone(self, place: str) -> None:
        if self._open.pop(place, None) is not None:
            log.info("%s is the cache's own again", place)

    def health(self) -> dict[str, Any]:
        """What `health` adds while any incident lasts: `ok` false and the first problem."""
        if not self._open:
            return {}
        first = next(iter(self._open.values()))
        more = f" (and {len(self._open) - 1} more)" if len(self._open) > 1 else ""
        return {"ok": False, "error": first + more}
