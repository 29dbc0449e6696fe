"""What refresh-ahead may spend upstream: requests and tokens per route per hour, counted in the store (with
Redis, by the whole fleet). A refresh reserves its tokens before it goes (as many as the answer it replaces cost)
and starts only when the reservation fits, so concurrent refreshes cannot pass the budget together; once its
answer is in, the reservation is corrected to what it really cost."""

from __future__ import annotations

from gateway.guard import OutageGuard
from gateway.store.base import Store

HOUR_MS = 3_600_000


class RefreshBudget:
    def __init__(self, store: Store, guard: OutageGuard, *, requests: int, tokens: int) -> None:
        self._store = store
        self._guard = guard
        self.requests = requests  # per route per hour
        self.tokens = tokens

    async def _add(self, name: str, amount: int) -> int:
        return await self._guard.call(lambda: self._store.bump(name, ttl_ms=HOUR_MS, by=amount))

    async def reserve(self, route: str, tokens: int) -> bool:
        """Whether one more refresh of about `tokens` fits this hour's budget of `route`; if so, it is counted.
        Raises CacheUnavailable."""
        spent = await self._add(f"refresh:tokens:{route}", tokens)
        if spent > self.tokens:
            await self._add(f"refresh:tokens:{route}", -tokens)
            return False
        if await self._add(f"refresh:requests:{route}", 1) > self.requests:
            await self._add(f"refresh:tokens:{route}", -tokens)
            return False
        return True

    async def spent(self, route: str, reserved: int, tokens: int) -> None:
        """What a refresh that reserved `reserved` tokens really cost. Raises CacheUnavailable."""
        if tokens != reserved:
            await self._add(f"refresh:tokens:{route}", tokens - reserved)
