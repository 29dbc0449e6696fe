"""What every endpoint shares: the settings, the cache policy, the upstream client, deferred cache
writes, the metrics recorder and the fleet's recent events, the single-flights, and the small helpers that
turn a Starlette request into the pieces the policy needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gateway.cache.policy import CachePolicy
from gateway.errors import CacheUnavailable, GatewayError
from gateway.flight.coordinator import Flights
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.window import EventWindow
from gateway.settings import Settings
from gateway.upstream import UpstreamClient
from gateway.web.access import Caller, caller_of, upstream_headers
from gateway.web.body import BodyDeadlines, streamed
from gateway.wire.canonical import SHARED_TENANT

log = logging.getLogger("latency_slayer.web")

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
    _writes: set[asyncio.Task[Any]] = field(default_factory=set)
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
        task = asyncio.get_running_loop().create_task(self._quietly(write))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    @staticmethod
    async def _quietly(write: Coroutine[Any, Any, Any]) -> None:
        with contextlib.suppress(CacheUnavailable):  # the guard has logged the outage once
            await write

    async def drain(self) -> None:
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=5)

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


async def read_body(request: Request) -> bytes:
    gateway = gateway_of(request)
    return await gateway.deadlines.read(request, gateway.settings.max_body_bytes)


def body_stream(request: Request) -> AsyncIterator[bytes]:
    return streamed(request, gateway_of(request).settings.body_timeout_secs)


def caller(request: Request) -> Caller:
    return caller_of(request, gateway_of(request).settings.openai_api_key)


def tenant_for(request: Request, route: str) -> str:
    """The tenant whose entries this request may see: the caller's own, or everyone's on a shared route."""
    return SHARED_TENANT if route in gateway_of(request).settings.shared_routes else caller(request).tenant


def forwarded_headers(request: Request) -> list[tuple[bytes, bytes]]:
    return upstream_headers(request, caller(request))


def cache_headers(state: str, *, layer: str | None = None, distance: float | None = None,
                  entry: str | None = None) -> dict[str, str]:
    headers = {"x-cache": state}
    if layer is not None:
        headers["x-cache-layer"] = layer
    if distance is not None:
        headers["x-cache-distance"] = f"{distance:.4f}"
    if entry is not None:
        headers["x-cache-key"] = entry
    return headers
