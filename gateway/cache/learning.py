"""Evidence about semantic hits, and what it changes: client feedback on a served entry, and shadow checks
that compare a cached answer with a fresh upstream one. Both feed the adaptive thresholds, the wrong-hit budget
(`gateway.cache.budget`) and the measured precision of the scope the hit was served in (a route and a tenant: see
`gateway.cache.scopes`), summed per route on the dashboard and in /metrics.

A scope's state (verdicts and threshold) is kept in the store too, so a wrong hit reported to one worker tightens
the scope in every worker: each adopts it within `SHARE_SECS` of its next lookup in that scope. Two verdicts in
one scope in different workers within a round trip of each other can lose one (last write wins)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.cache import budget
from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.agreement import answers_agree
from gateway.cache.scopes import Scope, ScopeState, ScopeTable, blob_key
from gateway.embedding.base import Embedder
from gateway.errors import StoreError
from gateway.setting_values import ErrorBudgets
from gateway.store.base import Store
from gateway.wire.answers import Reply

SHARE_SECS = 1.0  # how stale another worker's verdicts in a scope may be here
RATE_WITHIN_MS = 3600 * 1000  # how long after a semantic hit its caller may rate it
STATE_TTL_MS = 30 * 86400 * 1000  # a scope's stored state is forgotten after this long unused
RENEW_AFTER_MS = 86400 * 1000  # a scope in use has its stored state rewritten (its TTL renewed) once a day
NO_BUDGETS = ErrorBudgets()


@dataclass(frozen=True)
class Feedback:
    entry: str
    good: bool


class Learning:
    def __init__(self, store: Store, embedder: Embedder, *, adaptive: AdaptiveThresholds | None,
                 shadow_rate: float, budgets: ErrorBudgets = NO_BUDGETS, ceiling: float = 0.0,
                 chance: Callable[[], float] = random.random, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.embedder = embedder
        self.adaptive = adaptive
        self.budgets = budgets
        self._ceiling = ceiling  # CACHE_DISTANCE_THRESHOLD: a budget never loosens a route past it
        self.shadow_rate = shadow_rate
        self._chance = chance
        self._clock = clock  # wall clock: when a stored state was written means the same in every replica
        # Verdicts are kept even when thresholds are fixed: measured precision is worth seeing.
        self.scopes = ScopeTable()

    def threshold(self, scope: Scope, configured: float) -> float:
        share = self.budgets.of(scope.route)
        if share is not None:
            return self._choice(scope, share).threshold
        if self.adaptive is None:
            return configured
        state = self.scopes.get(scope)
        return self.adaptive.start if state is None or state.threshold is None else state.threshold

    def _choice(self, scope: Scope, share: float) -> budget.Choice:
        """The budget's threshold for `scope`, chosen again only when its verdicts changed."""
        state = self.scopes.get(scope)
        if state is None:
            return budget.Choice(budget.EXACT_ONLY)
        if state.choice is None:
            state.choice = budget.choose(state.verdicts, share, self._ceiling)
        return state.choice

    def _budgeted(self, scope: Scope, state: ScopeState) -> tuple[float, budget.Choice] | None:
        share = self.budgets.of(scope.route)
        return None if share is None else (share, self._choice(scope, share))

    def ceiling(self, configured: float) -> float:
        return self.adaptive.ceiling if self.adaptive is not None else configured

    def should_shadow(self) -> bool:
        """Whether to check this semantic hit against upstream instead of serving it."""
        return self.shadow_rate > 0 and self._chance() < self.shadow_rate

    async def sync(self, scope: Scope) -> None:
        """Adopt what every worker has recorded for `scope`, at most once per `SHARE_SECS`; renew its stored
        state once a day while it is used, so a threshold learnt long ago is not lost to a quiet month."""
        if self.adaptive is None and self.budgets.of(scope.route) is None:
            return  # fixed thresholds: no lookup depends on what other workers learnt, so no store read for it
        state = self.scopes.use(scope)
        now = time.monotonic()
        if state.synced is not None and now - state.synced < SHARE_SECS:
            return
        state.synced = now
        written_ms = await self._load(scope, state)
        if written_ms is not None and self._now_ms() - written_ms >= RENEW_AFTER_MS:
            await self._save(scope, state)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _load(self, scope: Scope, state: ScopeState) -> int | None:
        """Adopt the stored state; when it was written, or None when there is none (or the store is down:
        this worker's own state serves until it is back)."""
        try:
            raw = await self.store.get_blob(blob_key(scope))
        except StoreError:
            return None
        return None if raw is None else state.adopt(raw)

    async def _save(self, scope: Scope, state: ScopeState) -> None:
        # If the store fails it is recorded here only; other workers learn it with the next verdict stored.
        with contextlib.suppress(StoreError):
            await self.store.put_blob(blob_key(scope), state.blob(self._now_ms()), ttl_ms=STATE_TTL_MS)

    async def _record(self, scope: Scope, distance: float, good: bool) -> None:
        state = self.scopes.use(scope)
        await self._load(scope, state)  # start from what every worker knows
        state.record(distance, good)
        if self.adaptive is not None:
            current = self.adaptive.start if state.threshold is None else state.threshold
            state.threshold = self.adaptive.next(current, distance, good)
        await self._save(scope, state)

    async def judge(self, scope: Scope, distance: float, cached: Reply, fresh: Reply) -> bool:
        """Compare a cached answer with upstream's fresh one for the same request; record the verdict."""
        good = await answers_agree(cached, fresh, self.embedder)
        await self._record(scope, distance, good)
        return good

    async def served(self, tenant: str, entry: str, distance: float) -> None:
        """Remember the distance a semantic hit was served at to this tenant: its rating is evidence about that
        distance, which the gateway measured, never one a client claims."""
        await self.store.put_blob(f"served:{tenant}:{entry}", orjson.dumps(distance), ttl_ms=RATE_WITHIN_MS)

    async def feedback(self, feedback: Feedback, *, tenant: str, shared: str) -> bool:
        """Apply a client's rating of an entry it may see; False when the entry is not its to rate. A bad rating
        removes the answer; only a semantic hit served to this tenant within the hour counts as a verdict, once,
        so no caller can move a scope further than the hits it was actually served. The verdict belongs to the
        entry's scope: the caller's own, or the shared route's, where only a bad one counts: anyone may rate there,
        and good ratings from throwaway keys would outvote what the gateway measured, loosening it for everyone."""
        tags = await self.store.describe(feedback.entry)
        if tags is None or tags.tenant not in (tenant, shared):
            return False  # unknown, or another tenant's: say nothing about which
        if not feedback.good:
            await self.store.delete(feedback.entry)
        served = await self.store.get_blob(f"served:{tenant}:{feedback.entry}")
        if tags.tenant == shared and feedback.good:
            return True
        if served is not None and await self.store.bump(f"rated:{tenant}:{feedback.entry}",
                                                        ttl_ms=RATE_WITHIN_MS) == 1:
            await self._record(Scope(tags.route, tags.tenant), float(orjson.loads(served)), feedback.good)
        return True

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per route (at most MAX_ROUTES of them, then OTHER), summed over its tenants' scopes known here: judged
        hits, measured precision, the median threshold in force, and how many scopes that covers; on a route with
        a wrong-hit budget, the wrong-hit rate measured at its threshold, with its interval and the evidence."""
        return self.scopes.by_route(self.adaptive.start if self.adaptive is not None else None, self._budgeted)
