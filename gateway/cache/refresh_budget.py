"""What refresh-ahead may spend upstream: requests and tokens per route per hour, counted in the store (with
Redis, by the whole fleet) for each scope (a route and a tenant, or everyone on a shared route): one tenant's hot
answers cannot spend the budget that refreshes another's. A refresh reserves its tokens before it goes (as many as
the answer it replaces cost) and starts only when the reservation fits, so concurrent refreshes cannot pass the
budget together; once its answer is in, the reservation is corrected to what it really cost."""

from __future__ import annotations

from gateway.cache.scopes import Scope
from gateway.guard import OutageGuard
from gateway.store.base import Store

HOUR_MS = 3_600_000


class RefreshBudget:
    def __init__(self, store: Store, guard: OutageGuard, *, requests: int, tokens: int) -> None:
        self._store = store
        self._guard = guard
        self.requests = requests  # per route per hour
        self.tokens = tokens

    async def _add(self, what: str, scope: Scope, amount: int) -> int:
        name = f"refresh:{what}:{scope.tenant}:{scope.route}"  # a tenant is hex digits or a word: no colon
        return await self._guard.call(lambda: self._store.bump(name, ttl_ms=HOUR_MS, by=amount))

    async def reserve(self, scope: Scope, tokens: int) -> bool:
        """Whether one more refresh of about `tokens` fits this hour's budget of `scope`; if so, it is counted.
        Raises CacheUnavailable."""
        if await self._add("tokens", scope, tokens) > self.tokens:
            await self._add("tokens", scope, -tokens)
            return False
        if await self._add("requests", scope, 1) > self.requests:
            await self._add("tokens", scope, -tokens)
            return False
        return True

    async def spent(self, scope: Scope, reserved: int, tokens: int) -> None:
        """What a refresh that reserved `reserved` tokens really cost. Raises CacheUnavailable."""
        if tokens != reserved:
            await self._add("tokens", scope, tokens - reserved)
