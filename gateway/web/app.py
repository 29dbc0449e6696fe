"""The app factory: the one place that picks concrete classes (store, embedder, metrics sink) from the settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.learning import Learning
from gateway.cache.policy import CachePolicy, PolicyConfig
from gateway.cache.verifier import HitVerifier
from gateway.embedding.base import Embedder
from gateway.errors import StoreError
from gateway.flight.coordinator import Flights
from gateway.flight.local import LocalFlights
from gateway.flight.redis_flight import RedisFlights
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.prices import PriceTable
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.redis_sink import RedisSink
from gateway.metrics.sink import EventSink
from gateway.metrics.window import EventWindow
from gateway.settings import Settings, load_settings
from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis_store import RedisStore
from gateway.store.redis_vectorset import VectorSetStore
from gateway.upstream import UpstreamClient
from gateway.web.access import GatewayKeys
from gateway.web.admin import admin_routes
from gateway.web.body import BodyDeadlines
from gateway.web.browsers import BrowserGuard
from gateway.web.chat import chat_completions
from gateway.web.context import Gateway
from gateway.web.dashboard import dashboard_routes
from gateway.web.errors import HANDLERS
from gateway.web.feedback import cache_feedback
from gateway.web.forward import embeddings, healthz, passthrough
from gateway.web.framing import SingleFraming

log = logging.getLogger("latency_slayer")

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def make_store(settings: Settings) -> Store:
    if settings.redis_url and settings.vector_type == "int8":
        return VectorSetStore(settings.redis_url, index=settings.index_name, prefix=settings.key_prefix,
                              timeout_ms=settings.redis_timeout_ms)
    if settings.redis_url:
        return RedisStore(settings.redis_url, index=settings.index_name, prefix=settings.key_prefix,
                          timeout_ms=settings.redis_timeout_ms, vector_type=settings.vector_type)
    return MemoryStore(settings.memory_max_entries, settings.memory_max_bytes)


def make_sink(settings: Settings) -> EventSink:
    if settings.redis_url:
        return RedisSink(settings.redis_url, stream=settings.metrics_stream, maxlen=settings.metrics_maxlen,
                         timeout_ms=settings.redis_timeout_ms)
    return MemorySink(settings.metrics_maxlen)


def make_embedder(settings: Settings, upstream: UpstreamClient) -> Embedder:
    if settings.embed_provider == "openai":
        from gateway.embedding.remote import RemoteEmbedder

        return RemoteEmbedder(upstream, model=settings.embed_model, dim=settings.embed_dim,
                              timeout=settings.embed_timeout_secs)
    from gateway.embedding.local import LocalEmbedder

    return LocalEmbedder(model_dir=settings.latency_slayer_model_dir, batch_wait_ms=settings.embed_batch_wait_ms)


def make_flights(settings: Settings) -> Flights:
    local = LocalFlights()
    remote = None
    if settings.redis_url and settings.single_flight:
        remote = RedisFlights(settings.redis_url, prefix=settings.key_prefix, timeout_ms=settings.redis_timeout_ms,
                              ttl_secs=settings.upstream_timeout_secs, tasks=local,
                              max_chunk_bytes=settings.max_entry_bytes)
    return Flights(local, timeout=settings.upstream_timeout_secs, remote=remote, retry_secs=settings.store_retry_secs)


async def open_store(store: Store, embedder: Embedder) -> None:
    """A store that cannot be reached at start-up is not fatal: requests bypass it until it is back.
    An index built for another embedder is fatal (StartupError), since it would serve garbage."""
    try:
        await store.open(dim=embedder.dim, embedder=embedder.name)
    except StoreError as error:
        log.warning("cache store unavailable at start-up (%s); requests bypass it until it is back", error)


async def build_gateway(settings: Settings) -> Gateway:
    upstream = UpstreamClient(settings.upstream_base_url, connect_timeout=settings.upstream_connect_timeout_secs,
                              timeout=settings.upstream_timeout_secs, http2=settings.upstream_http2)
    embedder = make_embedder(settings, upstream)
    store = make_store(settings)
    await open_store(store, embedder)
    config = PolicyConfig(threshold=settings.cache_distance_threshold, ttl_secs=settings.resp_ttl_secs,
                          sliding=settings.resp_ttl_sliding, candidates=settings.semantic_candidates,
                          admit_after=settings.admit_after_asks, max_temperature=settings.max_cacheable_temperature,
                          max_entry_bytes=settings.max_entry_bytes)
    adaptive = AdaptiveThresholds(start=settings.adaptive_start_threshold,
                                  ceiling=settings.cache_distance_threshold) if settings.adaptive_thresholds else None
    learning = Learning(store, embedder, adaptive=adaptive, shadow_rate=settings.shadow_sample_rate)
    # The verifier's fitted score knows only the local model's distances.
    verifier = HitVerifier(scored=settings.embed_provider == "local") if settings.cache_verifier else None
    policy = CachePolicy(store, embedder, config, retry_secs=settings.store_retry_secs, learning=learning,
                         verifier=verifier)
    sink = make_sink(settings)
    events = EventRecorder(sink, prices=PriceTable(settings.metrics_prices), retry_secs=settings.store_retry_secs)
    events.start()
    deadlines = BodyDeadlines(settings.body_timeout_secs)
    deadlines.start()
    return Gateway(settings=settings, policy=policy, upstream=upstream, events=events,
                   fleet=EventWindow(sink, max_events=settings.metrics_maxlen), flights=make_flights(settings),
                   deadlines=deadlines)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = await build_gateway(settings)
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.close()

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/cache/feedback", cache_feedback, methods=["POST"]),
        Route("/v1/{path:path}", passthrough, methods=ALL_METHODS),
        Route("/healthz", healthz, methods=["GET"]),
        *admin_routes(settings.admin_token),
        *dashboard_routes(),
    ]
    middleware = [Middleware(SingleFraming), Middleware(BrowserGuard, allowed=settings.allowed_origins)]
    if settings.gateway_api_keys:
        middleware.append(Middleware(GatewayKeys, table=dict(settings.gateway_api_keys),
                                     default_key=settings.openai_api_key,
                                     account_endpoints=settings.account_endpoints == "allow"))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers=HANDLERS)  # type: ignore[arg-type]
    # A redirect to the slash-less path would be a bare 307 that OpenAI never sends; a 404 in its shape is clearer.
    app.router.redirect_slashes = False
    return app
