"""Evidence about semantic hits, and what it changes: client feedback on a served entry, and shadow checks
that compare a cached answer with a fresh upstream one. Both feed the per-route adaptive thresholds and the
measured precision per route shown on the dashboard and in /metrics.

A route's state (verdicts and threshold) is kept in the store too, so a wrong hit reported to one worker tightens
the route in every worker: each adopts it within `SHARE_SECS` of its next lookup on that route. Two verdicts on
one route in different workers within a round trip of each other can lose one (last write wins)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.agreement import answers_agree
from gateway.embedding.base import Embedder
from gateway.errors import StoreError
from gateway.store.base import Store

SHARE_SECS = 1.0  # how stale another worker's verdicts on a route may be here
RATE_WITHIN_MS = 3600 * 1000  # how long after a semantic hit its caller may rate it
_STATE_TTL_MS = 365 * 86400 * 1000


@dataclass(frozen=True)
class Feedback:
    entry: str
    good: bool


class Learning:
    def __init__(self, store: Store, embedder: Embedder, *, adaptive: AdaptiveThresholds | None,
                 shadow_rate: float, chance: Callable[[], float] = random.random) -> None:
        self.store = store
        self.embedder = embedder
        self.adaptive = adaptive
        self.shadow_rate = shadow_rate
        self._chance = chance
        # Verdicts per route (good, bad), kept even when thresholds are fixed: measured precision is worth seeing.
        self.verdicts: dict[str, list[int]] = {}
        self._synced: dict[str, float] = {}  # route -> when its shared state was last read

    def threshold(self, route: str, configured: float) -> float:
        return self.adaptive.threshold(route) if self.adaptive is not None else configured

    def ceiling(self, configured: float) -> float:
        return self.adaptive.ceiling if self.adaptive is not None else configured

    def should_shadow(self) -> bool:
        """Whether to check this semantic hit against upstream instead of serving it."""
        return self.shadow_rate > 0 and self._chance() < self.shadow_rate

    async def sync(self, route: str) -> None:
        """Adopt what every worker has recorded for `route`, at most once per `SHARE_SECS`."""
        now = time.monotonic()
        if now - self._synced.get(route, -SHARE_SECS) >= SHARE_SECS:
            self._synced[route] = now
            await self._load(route)

    async def _load(self, route: str) -> None:
        try:
            raw = await self.store.get_blob(f"learning:{route}")
        except StoreError:
            return  # this worker's own state serves until the store is back
        if raw is None:
            return
        good, bad, threshold = orjson.loads(raw)
        self.verdicts[route] = [good, bad]
        if self.adaptive is not None and threshold is not None:
            self.adaptive.routes[route] = threshold

    async def _record(self, route: str, distance: float, good: bool) -> None:
        await self._load(route)  # start from what every worker knows
        counts = self.verdicts.setdefault(route, [0, 0])
        counts[0 if good else 1] += 1
        threshold = self.adaptive.record(route, distance, good) if self.adaptive is not None else None
        # If the store fails it is recorded here only; other workers learn it with the next verdict stored.
        with contextlib.suppress(StoreError):
            await self.store.put_blob(f"learning:{route}", orjson.dumps([*counts, threshold]), ttl_ms=_STATE_TTL_MS)

    async def judge(self, route: str, distance: float, cached: dict[str, Any], fresh: dict[str, Any]) -> bool:
        """Compare a cached answer with upstream's fresh one for the same request; record the verdict."""
        good = await answers_agree(cached, fresh, self.embedder)
        await self._record(route, distance, good)
        return good

    async def served(self, tenant: str, entry: str, distance: float) -> None:
        """Remember the distance a semantic hit was served at to this tenant: its rating is evidence about that
        distance, which the gateway measured, never one a client claims."""
        await self.store.put_blob(f"served:{tenant}:{entry}", orjson.dumps(distance), ttl_ms=RATE_WITHIN_MS)

    async def feedback(self, feedback: Feedback, *, tenant: str, shared: str) -> bool:
        """Apply a client's rating of an entry it may see; False when the entry is not its to rate. A bad rating
        removes the answer; only a semantic hit served to this tenant within the hour counts as a verdict, once,
        so no caller can move a shared route further than the hits it was actually served."""
        tags = await self.store.describe(feedback.entry)
        if tags is None or tags.user not in (tenant, shared):
            return False  # unknown, or another tenant's: say nothing about which
        if not feedback.good:
            await self.store.delete(feedback.entry)
        served = await self.store.get_blob(f"served:{tenant}:{feedback.entry}")
        if served is not None and await self.store.bump(f"rated:{tenant}:{feedback.entry}",
                                                        ttl_ms=RATE_WITHIN_MS) == 1:
            await self._record(tags.route, float(orjson.loads(served)), feedback.good)
        return True

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per route: judged hits, measured precision, and the adaptive threshold in force."""
        routes = set(self.verdicts) | set(self.adaptive.routes if self.adaptive is not None else ())
        snapshot = {}
        for route in sorted(routes):
            good, bad = self.verdicts.get(route, (0, 0))
            snapshot[route] = {"good": good, "bad": bad, "precision": good / (good + bad) if good + bad else None,
                               "threshold": self.adaptive.threshold(route) if self.adaptive is not None else None}
        return snapshot
