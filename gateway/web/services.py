"""What every endpoint shares: the settings, the cache policy, the upstream client, deferred cache writes, the
metrics recorder and the fleet's recent events, the single-flights and the body deadlines: one `Gateway` per
worker, built by `gateway.assembly` when the app starts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gateway.cache.policy import CachePolicy
from gateway.errors import CacheUnavailable, GatewayError
from gateway.flight.flights import Flights
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.window import EventWindow
from gateway.settings import Settings
from gateway.tasks import Background
from gateway.upstream import UpstreamClient
from gateway.web.body import BodyDeadlines

HEALTH_SECS = 1.0


@dataclass
class Gateway:
    settings: Settings
    policy: CachePolicy
    upstream: UpstreamClient
    events: EventRecorder  # where each request's event is emitted
    fleet: EventWindow  # every worker's recent events, read back for the dashboard
    flights: Flights  # misses on their way upstream, which identical misses follow (single-flight)
    deadlines: BodyDeadlines  # request bodies being read, each due within BODY_TIMEOUT_SECS
    _writes: Background = field(default_factory=Background)
    _health: tuple[float, dict[str, Any]] | None = None
    _health_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def store_health(self) -> dict[str, Any]:
        """The store's state, asked of it at most once per `HEALTH_SECS`: `/healthz` needs no key, and asking a
        Redis with a large index costs it milliseconds (FT.INFO), so probes at any rate must not add up."""
        async with self._health_lock:
            now = time.monotonic()
            if self._health is None or now - self._health[0] >= HEALTH_SECS:
                try:
                    state = {"ok": True, **await self.policy.store.health()}
                except GatewayError as error:
                    state = {"ok": False, "error": str(error)}
                self._health = (time.monotonic(), state)
            return self._health[1]

    def defer(self, write: Coroutine[Any, Any, Any]) -> None:
        """Run a cache write after the response, off the request path; its failure is only a bypass."""
        self._writes.spawn(self._quietly(write))

    @staticmethod
    async def _quietly(write: Coroutine[Any, Any, Any]) -> None:
        with contextlib.suppress(CacheUnavailable):  # the guard has logged the outage once
            await write

    async def drain(self) -> None:
        await self._writes.wait(timeout=5)

    async def close(self) -> None:
        await self.deadlines.close()
        await self.drain()
        await self.flights.close()
        await self.events.close()
        await self.policy.store.close()
        await self.policy.embedder.close()
        await self.upstream.close()


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
