"""What every endpoint shares: the settings, the cache policy, the upstream client, deferred cache
writes, the metrics recorder and the fleet's recent events, the single-flights, and the small helpers that
turn a Starlette request into the pieces the policy needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gateway.cache.policy import CachePolicy
from gateway.errors import CacheUnavailable
from gateway.flight.coordinator import Flights
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.window import EventWindow
from gateway.settings import Settings
from gateway.upstream import UpstreamClient
from gateway.web.access import client_key
from gateway.wire.canonical import tenant_of
from gateway.wire.requests import InvalidRequest

log = logging.getLogger("latency_slayer.web")


@dataclass
class Gateway:
    settings: Settings
    policy: CachePolicy
    upstream: UpstreamClient
    events: EventRecorder  # where each request's event is emitted
    fleet: EventWindow  # every worker's recent events, read back for the dashboard
    flights: Flights  # misses on their way upstream, which identical misses follow (single-flight)
    _writes: set[asyncio.Task[Any]] = field(default_factory=set)

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
        await self.drain()
        await self.flights.close()
        await self.events.close()
        await self.policy.store.close()
        await self.policy.embedder.close()
        await self.upstream.close()


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


DRAIN_LIMIT = 16 << 20  # an over-limit body up to this size is read and dropped, so the client sees the 413


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing with 413 once it is known to be larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        if int(declared) <= DRAIN_LIMIT:
            await _drain(request, DRAIN_LIMIT)
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, DRAIN_LIMIT - size)
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request, budget: int) -> None:
    """Read what the client is still sending (a client blocked on a full socket would never read our 413)."""
    async for chunk in request.stream():
        budget -= len(chunk)
        if budget < 0:
            return


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"The request body is larger than the gateway's limit of {limit} bytes.",
                          code="request_too_large", status=413)


def tenant_for(request: Request, route: str) -> str:
    """The caller's tenant: its own key (a gateway key when those are on), else the configured upstream key."""
    gateway = gateway_of(request)
    key = client_key(request.scope) or gateway.upstream.key_for(None)
    return tenant_of(key, route, gateway.settings.shared_routes)


def forwarded_headers(request: Request) -> list[tuple[bytes, bytes]]:
    return list(request.headers.raw)


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
