"""`POST /v1/chat/completions`: read the request, ask the cache policy what to do with it, and answer: a cached
answer as JSON or SSE, an identical request's answer as it arrives, or the upstream's answer relayed (a stream
event by event) and handed back to the policy to settle."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.cache.policy import Ask, Following, Hit, Miss
from gateway.flight.flight import Head
from gateway.web.request_parts import cache_headers, caller, forwarded_headers, gateway_of, read_body, tenant_for
from gateway.web.responses import (
    ErrorResponse,
    EventStreamResponse,
    FlightStream,
    JSONResponse,
    RelayedResponse,
    RelayedStream,
)
from gateway.web.services import Gateway
from gateway.web.trace import Trace, trace_of
from gateway.wire.chat import ChatRequest, ChatStream, cached_events, cached_json, read_chat


async def chat_completions(request: Request) -> Response:
    trace = trace_of(request, "chat")
    gateway = gateway_of(request)
    chat = read_chat(await read_body(request), request.headers, default_model=gateway.settings.gen_model)
    return await answer_chat(request, gateway, chat, trace)


async def answer_chat(request: Request, gateway: Gateway, chat: ChatRequest, trace: Trace) -> Response:
    """The chat path from a request read: `POST /v1/chat/completions`, and the aliases that read another shape."""
    trace.model, trace.route, trace.stream = chat.model, chat.controls.route, chat.stream
    who = caller(request)
    ask = Ask(chat.key(tenant_for(request, chat.controls.route)), chat.controls, who.tenant, who.upstream_key,
              chat.temperature, chat.stream, chat.variant)

    decision = await gateway.policy.decide(ask)
    if isinstance(decision, Hit):
        trace.hit(decision.layer, decision.completion.get("usage"), distance=decision.distance,
                  threshold=decision.threshold)
        return _cached(decision, chat)
    if isinstance(decision, Following):
        trace.hit("flight", decision.usage)  # a stream's usage is known at its end
        return _followed(decision, trace)
    trace.outcome = decision.state
    with decision:
        return await _go_upstream(request, gateway, chat, decision, trace)


def _cached(hit: Hit, chat: ChatRequest) -> Response:
    headers = cache_headers("hit", layer=hit.layer, distance=hit.distance, entry=hit.entry)
    if chat.stream:
        return EventStreamResponse(cached_events(hit.completion, include_usage=chat.client_usage), headers)
    return JSONResponse(cached_json(hit.completion), headers=headers)


def _followed(following: Following, trace: Trace) -> Response:
    """An identical request's answer: `x-cache: hit` with `x-cache-layer: flight` (it bought nothing upstream),
    byte for byte the leader's answer, not its account's headers."""
    headers = cache_headers("hit", layer="flight")
    if following.reader is not None:
        return FlightStream(following.head, following.reader, headers, ended=trace.answered)
    return RelayedResponse(following.head, following.body or b"", headers)


async def _go_upstream(request: Request, gateway: Gateway, chat: ChatRequest, miss: Miss, trace: Trace) -> Response:
    # The cache stores a stream's usage: asked for upstream when the client did not, and not relayed to it.
    inject_usage = chat.stream and miss.key is not None and not chat.client_usage
    trace.upstream_sent()
    upstream = await gateway.upstream.send("POST", "/chat/completions", headers=forwarded_headers(request),
                                           content=chat.upstream_body(want_usage=inject_usage))
    head = Head(upstream.status, upstream.headers)
    if chat.stream and upstream.status == 200 and upstream.content_type.startswith("text/event-stream"):
        reader = gateway.policy.settle_stream(miss, head, upstream, ChatStream(drop_usage=inject_usage))
        return FlightStream(head, reader, cache_headers(miss.state), ended=trace.answered)
    payload, rest = await upstream.read_within(gateway.settings.max_entry_bytes)
    if rest is not None:  # too big to store or share: relayed as it comes, never parsed on the event loop
        trace.outcome = "bypass"
        return RelayedStream.overflowing(upstream, payload, rest, cache_headers("bypass"))
    trace.upstream_done()
    if upstream.status != 200:
        return RelayedResponse(upstream, payload, cache_headers(miss.state))  # errors pass through, never stored
    try:
        completion = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ErrorResponse("The upstream API answered with a body that is not valid JSON.", status=502,
                             code="upstream_protocol_error", headers=cache_headers("bypass"))
    if isinstance(completion, dict):
        trace.usage(completion.get("usage"))
    answer = completion if isinstance(completion, dict) and not chat.stream else None
    gateway.policy.settle(miss, answer, head=head, body=payload)
    return RelayedResponse(upstream, payload, cache_headers(miss.state))
