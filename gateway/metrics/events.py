"""The event schema: one `Event` per request, and its encoding as the fields of a Redis Stream entry.

An event carries figures only (timings, outcome, model, route, token counts): never a prompt, an answer or a
key, so the stream can be read by anyone who may see the dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from gateway.metrics.labels import bounded
from gateway.wire.request_id import valid

SCHEMA_VERSION = "1"
# "refresh": not a client's request but a background upstream call renewing a cached answer (stale-while-revalidate)
OUTCOMES = ("hit", "miss", "bypass", "error", "refresh")
# The events of outcome "refresh", by what made the call: a stale answer's or a hot one's refresh, or a prefetch.
BACKGROUND = ("refresh", "prefetch")
# What wrote a cached answer when no client asked it: those calls, or a warming run's request (a miss of that origin).
ORIGINS = (*BACKGROUND, "warming")
LAYERS = ("exact", "semantic", "flight", "stale")  # "stale": an exact answer served past its TTL while refreshed


class Event(NamedTuple):
    ts: int  # milliseconds since the epoch, when the request ended
    event: str  # the endpoint: "chat", "responses", "completions", "embeddings"... (its API)
    outcome: str  # one of OUTCOMES
    layer: str | None  # one of LAYERS, on hits
    stream: bool
    status: int  # the HTTP status the client got (499: it went away mid-stream)
    latency_ms: float  # endpoint entered to response ready (a relayed stream: to its last byte)
    upstream_ms: float | None  # request sent upstream to its last byte, when it went upstream
    ttfb_ms: float | None  # request in to first body byte out, on streamed responses
    distance: float | None  # cosine distance of a semantic hit
    threshold: float | None  # the threshold that hit was served under
    model: str
    route: str
    prompt_tokens: int
    completion_tokens: int
    tokens_saved: int  # prompt + completion tokens a hit did not buy upstream
    cost_saved: float  # estimated US dollars a hit did not spend upstream
    source: str  # host:pid of the worker that served it
    request_id: str = ""  # the request's `x-request-id` (gateway/wire/request_id.py); "" in events from before it
    # What wrote the answer (one of ORIGINS; "": a client): a hit's, the entry it was served, which counts as that
    # kind's yield; a miss's or a refresh's, what its answer is stored as
    origin: str = ""

    @property
    def hit(self) -> bool:
        return self.outcome == "hit"

    def with_bounded_names(self) -> Event:
        """This event with its names cut to the label bounds (the model name is whatever the client sent)."""
        model, route = bounded(self.model), bounded(self.route)
        return self if model is self.model and route is self.route else self._replace(model=model, route=route)


def _optional_float(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def encode(event: Event) -> dict[str, str]:
    """Stream fields; every event has the same field names, so Redis stores them once per stream node."""
    return {
        "v": SCHEMA_VERSION, "ts": str(event.ts), "event": event.event, "outcome": event.outcome,
        "layer": event.layer or "", "stream": "1" if event.stream else "0", "status": str(event.status),
        "latency_ms": _optional_float(event.latency_ms), "upstream_ms": _optional_float(event.upstream_ms),
        "ttfb_ms": _optional_float(event.ttfb_ms),
        "distance": "" if event.distance is None else f"{event.distance:.5f}",
        "threshold": "" if event.threshold is None else f"{event.threshold:.5f}",
        "model": event.model, "route": event.route, "prompt_tokens": str(event.prompt_tokens),
        "completion_tokens": str(event.completion_tokens), "tokens_saved": str(event.tokens_saved),
        "cost_saved": f"{event.cost_saved:.8f}", "source": event.source, "request_id": event.request_id,
        "origin": event.origin,
    }


def _float(value: str) -> float | None:
    return float(value) if value else None


def decode(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> Event | None:
    """An event from stream fields; None for an entry this schema cannot read (another writer, a newer
    version), which the dashboard skips rather than fail on. Names are bounded again: an older writer did not."""
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()}
    if text.get("v") != SCHEMA_VERSION or text.get("outcome") not in OUTCOMES or text.get("layer") not in ("", *LAYERS):
        return None
    try:
        return Event(
            ts=int(text["ts"]), event=text["event"], outcome=text["outcome"], layer=text["layer"] or None,
            stream=text["stream"] == "1", status=int(text["status"]), latency_ms=float(text["latency_ms"]),
            upstream_ms=_float(text["upstream_ms"]), ttfb_ms=_float(text["ttfb_ms"]),
            distance=_float(text["distance"]), threshold=_float(text["threshold"]), model=bounded(text["model"]),
            route=bounded(text["route"]), prompt_tokens=int(text["prompt_tokens"]),
            completion_tokens=int(text["completion_tokens"]), tokens_saved=int(text["tokens_saved"]),
            cost_saved=float(text["cost_saved"]), source=bounded(text["source"]),
            request_id=valid(text.get("request_id", "").encode()) or "",
            origin=origin if (origin := text.get("origin", "")) in ORIGINS else "",
        )
    except (KeyError, ValueError):
        return None
