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
from gateway.wire.canonical import SHARED_TENANT
from gateway.wire.requests import InvalidRequest

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


def declared_length(request: Request) -> int | None:
    """The client's Content-Length when it is a plain ASCII number (the HTTP server has already refused others)."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() and len(declared) <= 18 else None


async def read_body(request: Request) -> bytes:
    """The whole body, refusing with 413 once it is known to be larger than `MAX_BODY_BYTES`, and with 408 when
    it has not all arrived within `BODY_TIMEOUT_SECS`: a client trickling its body must not hold a connection."""
    settings = gateway_of(request).settings
    try:
        async with asyncio.timeout(settings.body_timeout_secs):
            return await _read_within(request, settings.max_body_bytes)
    except TimeoutError:
        raise too_slow(settings.body_timeout_secs) from None


async def _read_within(request: Request, limit: int) -> bytes:
    declared = declared_length(request)
    if declared is not None and declared > limit:
        if declared <= DRAIN_LIMIT:
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


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives (a passthrough streams it upstream), within the same `BODY_TIMEOUT_SECS`."""
    deadline = asyncio.get_running_loop().time() + gateway_of(request).settings.body_timeout_secs
    stream = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise too_slow(gateway_of(request).settings.body_timeout_secs) from None
        yield chunk


def too_slow(seconds: float) -> InvalidRequest:
    return InvalidRequest(f"The request body did not arrive within the gateway's limit of {seconds:g} seconds.",
                          code="request_timeout", status=408)


async def _drain(request: Request, budget: int) -> None:
    """Read what the client is still sending (a client blocked on a full socket would never read our 413)."""
    async for chunk in request.stream():
        budget -= len(chunk)
        if budget < 0:
            return


def _too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"The request body is larger than the gateway's limit of {limit} bytes.",
                          code="request_too_large", status=413)


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
