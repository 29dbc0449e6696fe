"""What every endpoint shares: the settings, the cache policy, the upstream clients, the metrics recorder and the
fleet's recent events, and the body deadlines: one `Gateway` per worker, built by `gateway.assembly` when the app
starts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.cache.policy import CachePolicy
from gateway.errors import GatewayError
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.window import EventWindow
from gateway.settings import Settings
from gateway.tracing import NO_TRACING, Tracer
from gateway.upstream import UpstreamClient
from gateway.upstreams import Upstreams
from gateway.warming.jobs import WarmJobs
from gateway.web.body import BodyDeadlines

HEALTH_SECS = 1.0
GATEWAY = "latency_slayer.gateway"  # scope entry: the worker's Gateway, put there once per request


@dataclass
class Gateway:
    settings: Settings
    policy: CachePolicy
    upstream: UpstreamClient  # the default OpenAI-compatible upstream, which every other `/v1/...` call goes to
    upstreams: Upstreams  # which upstream answers which API and model (the default ones included)
    events: EventRecorder  # where each request's event is emitted
    fleet: EventWindow  # every worker's recent events, read back for the dashboard
    deadlines: BodyDeadlines  # request bodies being read, each due within BODY_TIMEOUT_SECS
    tracer: Tracer = NO_TRACING  # where each request's span goes (`gateway.web.tracing`)
    warming: WarmJobs = field(default_factory=WarmJobs)  # runs of `POST /admin/warm` in this worker
    _health: tuple[float, dict[str, Any]] | None = None
    _health_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def store_health(self) -> dict[str, Any]:
        """The store's state, asked of it at most once per `HEALTH_SECS`: `/healthz` needs no key, and asking a
        Redis with a large index costs it milliseconds (FT.INFO), so probes at any rate must not add up."""
        async with self._health_lock:
            now = time.monotonic()
            if self._health is None or now - self._health[0] >= HEALTH_SECS:
                try:
                    state = {"ok": True, **await self.policy.store_health()}
                except GatewayError as error:
                    state = {"ok": False, "error": str(error)}
                self._health = (time.monotonic(), state)
            return self._health[1]

    async def drain(self) -> None:
        """Let the cache writes still running finish."""
        await self.policy.drain()

    async def close(self) -> None:
        await self.warming.close()  # first: its requests use everything below
        await self.deadlines.close()
        await self.policy.close()
        await self.events.close()
        await self.upstreams.close()
        await self.tracer.close()  # last: the spans of the closing steps go too
