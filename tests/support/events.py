"""Metrics events for the tests: one built by hand (any outcome, timing or name, at a fixed clock), and those a
served gateway wrote, read back once they are settled."""

from __future__ import annotations

import uuid

import redis

from gateway.metrics.events import Event, encode

NOW = 1_800_000_000_000


def event(outcome: str = "miss", ms: float = 100.0, *, ts: int = NOW, layer: str | None = None,
          model: str = "gpt-4o-mini", route: str = "default", distance: float | None = None,
          threshold: float | None = None, saved: int = 0, cost: float = 0.0, source: str = "host:1",
          ttfb: float | None = None, upstream: float | None = None) -> Event:
    return Event(ts=ts, event="chat", outcome=outcome, layer=layer, stream=ttfb is not None, status=200,
                 latency_ms=ms, upstream_ms=upstream, ttfb_ms=ttfb, distance=distance, threshold=threshold,
                 model=model, route=route, prompt_tokens=saved // 2, completion_tokens=saved - saved // 2,
                 tokens_saved=saved, cost_saved=cost, source=source)


def served(make_gateway, store: str, **env: str):
    """A gateway writing to a stream of its own, so tests sharing one Redis never read each other's events."""
    return make_gateway(store, METRICS_STREAM=f"events:{uuid.uuid4().hex[:10]}", **env)


def settle(gateway) -> None:
    """Cache writes done and every event emitted so far written (the writer would within 0.2 s)."""
    gateway.drain()
    gateway.run(gateway.gateway.events.flush())


def events_of(gateway) -> list[Event]:
    settle(gateway)
    events, _ = gateway.run(gateway.gateway.events.sink.read_after(None, since_ms=0, limit=100_000))
    return events


def raw_fields(gateway) -> list[dict[str, str]]:
    """What a reader of the sink sees: the stream entries themselves with Redis."""
    if not gateway.settings.redis_url:
        return [encode(event) for event in events_of(gateway)]
    settle(gateway)
    with redis.Redis.from_url(gateway.settings.redis_url, decode_responses=True) as reader:
        return [fields for _, fields in reader.xrange(gateway.settings.metrics_stream)]
