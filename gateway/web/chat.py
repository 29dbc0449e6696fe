"""`POST /v1/chat/completions`: look the request up in the cache, serve a hit as JSON or SSE, or relay a
miss from upstream (streamed chunk by chunk) and store its answer once it finished cleanly. Each request
fills a Trace, emitted as one metrics event when its response ends."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.cache.policy import Hit, Lookup
from gateway.cache.scopes import scope_of
from gateway.errors import CacheUnavailable, Uncacheable
from gateway.flight.flight import Flight, Head
from gateway.web import relay
from gateway.web.error_responses import error_response
from gateway.web.flight_relay import flight_key, follow, pump, read_along
from gateway.web.request_parts import cache_headers, caller, forwarded_headers, read_body, tenant_for
from gateway.web.services import Gateway, gateway_of
from gateway.web.trace import Trace, observed
from gateway.wire import sse
from gateway.wire.canonical import ChatKey, chat_key
from gateway.wire.completion import as_chunks, as_response, is_complete
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import validate_chat


class _Miss:
    """Everything a miss needs to go upstream and, once the answer is complete, to store it and to judge
    a cached answer against it (a shadowed hit, or a near miss that adaptive thresholds learn from)."""

    def __init__(self, gateway: Gateway, key: ChatKey | None, controls: Controls, api_key: str | None,
                 lookup: Lookup, *, temperature: Any, shadowed: bool) -> None:
        self.gateway = gateway
        self.key = key
        self.controls = controls
        self.api_key = api_key
        self.vector = lookup.vector
        self.temperature = temperature if isinstance(temperature, (int, float)) else None
        self.shadowed = shadowed  # the cached answer exists: only compare, never store again
        self.judged = lookup.hit if shadowed else lookup.probe
        self.state = "miss" if key is not None else "bypass"
        # What may share an upstream call is what could be served from the cache: a fresh answer
        # for a request that asked for one too random to store is its own.
        self.shareable = not shadowed and gateway.policy.admits(self.temperature)

    def store(self, completion: dict[str, Any] | None) -> None:
        if self.key is None or completion is None:
            return
        policy = self.gateway.policy
        if self.judged is not None and self.judged.distance is not None:
            self.gateway.defer(policy.learning.judge(scope_of(self.key), self.judged.distance,
                                                     self.judged.completion, completion))
        if not self.shadowed:
            self.gateway.defer(policy.remember(self.key, completion, self.controls, vector=self.vector,
                                               api_key=self.api_key, temperature=self.temperature))


def _hit_response(hit: Hit, *, stream: bool, include_usage: bool) -> Response:
    headers = cache_headers("hit", layer=hit.layer, distance=hit.distance, entry=hit.entry)
    if not stream:
        return Response(orjson.dumps(as_response(hit.completion)), media_type="application/json",
                        headers=headers)
    body = b"".join(sse.encode(chunk) for chunk in as_chunks(hit.completion, include_usage=include_usage))
    return Response(body + sse.DONE, media_type="text/event-stream",
                    headers={**headers, "cache-control": "no-cache"})


def _upstream_body(body: dict[str, Any], model: str, *, want_usage: bool) -> bytes:
    """The request as sent upstream: as the cache read it, with the model if it was defaulted and usage if needed."""
    changes: dict[str, Any] = {}
    if "model" not in body:
        changes["model"] = model
    if want_usage:
        changes["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return forwardable({**body, **changes} if changes else body)


@observed("chat")
async def chat_completions(request: Request, trace: Trace) -> Response:
    gateway = gateway_of(request)
    settings = gateway.settings
    body = parse_json_object(await read_body(request))
    validate_chat(body)
    controls = parse_controls(request.headers)
    api_key = caller(request).upstream_key
    model = body.get("model") or settings.gen_model
    stream = bool(body.get("stream"))
    client_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    trace.model, trace.route, trace.stream = model, controls.route, stream

    key: ChatKey | None = None
    lookup = Lookup()
    try:
        key = chat_key(body, model=model, route=controls.route,
                       tenant=tenant_for(request, controls.route))
        if controls.lookup:
            lookup = await gateway.policy.lookup(key, controls, api_key=api_key)
    except (Uncacheable, CacheUnavailable):
        key = None
    hit = lookup.hit
    # A semantic hit found under the scope's own threshold is evidence about it; one the client's x-cache-threshold
    # reached is not, or any caller could loosen a scope at will: it is neither shadowed nor open to a rating.
    evidence = hit is not None and hit.layer == "semantic" and controls.threshold is None
    shadowed = evidence and gateway.policy.learning.should_shadow()
    if hit is not None and not shadowed:
        trace.hit(hit.layer, hit.completion.get("usage"), distance=hit.distance,
                  threshold=hit.threshold)
        if evidence:  # what a rating of this hit will be evidence about
            gateway.defer(gateway.policy.learning.served(caller(request).tenant, hit.entry, hit.distance))
        return _hit_response(hit, stream=stream, include_usage=client_usage)

    miss = _Miss(gateway, key, controls, api_key, lookup, temperature=body.get("temperature"), shadowed=shadowed)
    trace.outcome = miss.state
    flights = gateway.flights
    flight: Flight | None = None
    if settings.single_flight and key is not None and controls.lookup and miss.shareable:
        shared_key = flight_key(key, stream=stream, include_usage=client_usage)
        for _ in range(2):  # a failed leader is replaced by one of its followers, once; then each goes alone
            flight, leading = await flights.join(shared_key)
            if leading:
                break
            # A follower asked too, so admission counts it: with ADMIT_AFTER_ASKS=2, two identical concurrent
            # requests are two asks. (One whose leader fails and who then leads counts twice: rare, errs to caching.)
            with contextlib.suppress(CacheUnavailable):
                await gateway.policy.note_ask(key, controls)
            response = await follow(flight, trace, stream=stream, timeout=flights.timeout)
            if response is not None:
                return response
            flight = None
    flight = flight or flights.private()
    try:
        return await _go_upstream(request, body, model, miss, flight, trace, stream=stream,
                                  client_usage=client_usage)
    finally:
        if flight.head is None:
            flight.fail()  # nothing to share (an error, a cancelled request): its followers go upstream themselves


async def _go_upstream(request: Request, body: dict[str, Any], model: str, miss: _Miss, flight: Flight,
                       trace: Trace, *, stream: bool, client_usage: bool) -> Response:
    """Send the miss upstream and relay the answer, publishing it to `flight`: a stream as it arrives,
    a whole answer only when it is a complete one."""
    gateway = miss.gateway
    if gateway.settings.miss_delay_ms:
        await asyncio.sleep(gateway.settings.miss_delay_ms / 1000)
    inject_usage = stream and miss.key is not None and not client_usage
    trace.upstream_sent()
    upstream = await gateway.upstream.send(
        "POST", "/chat/completions", headers=forwarded_headers(request),
        content=_upstream_body(body, model, want_usage=inject_usage))
    head = Head(upstream.status, upstream.headers)
    if stream and upstream.status == 200 and upstream.content_type.startswith("text/event-stream"):
        flight.start(head)
        reader = flight.join(gateway.flights.timeout)  # before the pump starts: it stops when nobody reads
        flight.feed(pump(upstream, flight, miss.store, drop_usage=inject_usage))
        return read_along(head, reader, trace, cache_headers(miss.state))
    payload, rest = await upstream.read_within(gateway.settings.max_entry_bytes)
    if rest is not None:  # too big to store or share: relayed as it comes, never parsed on the event loop
        trace.outcome = "bypass"
        return relay.overflowing(upstream, payload, rest, cache_headers("bypass"))
    trace.upstream_done()
    if upstream.status != 200:
        return relay.whole(upstream, payload, cache_headers(miss.state))  # errors pass through, never stored
    try:
        completion = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return error_response("The upstream API answered with a body that is not valid JSON.", status=502,
                              code="upstream_protocol_error", headers=cache_headers("bypass"))
    answer = completion if isinstance(completion, dict) and not stream else None
    if isinstance(completion, dict):
        trace.usage(completion.get("usage"))
    miss.store(answer)
    if answer is not None and is_complete(answer):
        flight.start(head)
        flight.publish(payload)
        flight.end(usage=answer.get("usage"))
    return relay.whole(upstream, payload, cache_headers(miss.state))
