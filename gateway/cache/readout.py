"""What the gateway's own endpoints read of the cache, and run on it, besides answering requests: `/healthz`,
`/admin/...`, the dashboard and `/metrics`. `CachePolicy` carries these, so the web layer names the policy alone,
never the layers, stores, embedders or learning behind it."""

from __future__ import annotations

from typing import Any

from gateway.cache.layers import CacheLayers
from gateway.cache.learning import Learning


class Readout:
    layers: CacheLayers
    learning: Learning

    async def store_health(self) -> dict[str, Any]:
        """Raises StoreError when the store cannot be reached."""
        return await self.layers.store.health()

    def embedder_health(self) -> dict[str, Any]:
        return self.layers.embedder.health()

    def bypassing(self) -> dict[str, bool]:
        """Whether requests go past the store and the embedder now, after they failed."""
        return {"store": self.layers.store_guard.down, "embedder": self.layers.embedder_guard.down}

    def describe(self) -> dict[str, Any]:
        config = self.layers.config
        return {"threshold": config.threshold, "ttl_secs": config.ttl_secs, "sliding": config.sliding,
                "candidates": config.candidates}

    def learnt(self) -> dict[str, dict[str, Any]]:
        """Per route: judged hits, measured precision, the thresholds in force (`Learning.snapshot`)."""
        return self.learning.snapshot()

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        """Delete the cached answers of `route` and `tenant` (None: any); how many were. Raises StoreError."""
        return await self.layers.store.flush(route=route, tenant=tenant)

    async def delete(self, entry: str) -> bool:
        """Delete one cached answer by its id; False when there is none. Raises StoreError."""
        return await self.layers.store.delete(entry)
