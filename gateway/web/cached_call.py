"""The path every cached API shares (chat completions, and each API whose answers the cache keeps whole): ask the
cache policy what to do with a request read by its wire format, and answer: a cached answer written back by that
wire format (JSON or SSE), an identical request's answer as it arrives, or the upstream's answer relayed (a stream
event by event) and handed back to the policy to settle. Off the request path, the background calls that keep
answers ready: a stale answer's refresh, a hot one's refresh-ahead, a conversation's likely next question."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from gateway.cache.policy import Ask, Following, Hit, Miss
from gateway.errors import GatewayError
from gateway.flight.capture import StreamAnswer
from gateway.flight.flight import Head
from gateway.upstreams import Upstream, Upstreams
from gateway.web.dialects import errors_for
from gateway.web.request_parts import (
    cache_headers,
    caller,
    embedder_key,
    forwarded_headers,
    on_gateways_account,
    tenant_for,
)
from gateway.web.responses import (
    ErrorResponse,
    EventStreamResponse,
    FlightStream,
    JSONResponse,
    RelayedResponse,
    RelayedStream,
)
from gateway.web.services import Gateway
from gateway.web.trace import TRACE, Trace
from gateway.wire.canonical import SHARED_TENANT, RequestKey, answered_by
from gateway.wire.controls import Controls
from gateway.wire.errors import ErrorShape


class CachedCall(Protocol):
    """A request as its wire format read it, with what the cache path needs of that format."""

    controls: Controls
    model: str
    stream: bool
    path: str  # where it goes, relative to the upstream's base URL

    @property
    def temperature(self) -> Any: ...

    @property
    def variant(self) -> tuple[bytes, ...]:
        """What else decides the bytes a client is sent for the same answer (JSON or SSE, a usage chunk...)."""
        ...

    @property
    def may_be_private(self) -> bool:
        """Whether its answer may hold what only its own tenant may be served (signed thinking, encrypted
        reasoning), which is known only once the answer is whole."""
        ...

    def key(self, tenant: str) -> RequestKey | None:
        """The key of what it may be served among `tenant`'s entries; None when the cache must not serve it."""
        ...

    def upstream_body(self, *, caching: bool) -> bytes:
        """The request as sent upstream; `caching`: its answer is for the cache too, which may need more of it
        than the client asked for (a stream's usage)."""
        ...

    def stream_answer(self, *, caching: bool) -> StreamAnswer:
        """How its streamed answer is read as it is relayed (not relaying what only the cache asked for)."""
        ...

    def cached(self, answer: dict[str, Any]) -> bytes:
        """A cached answer written back as a fresh one: JSON, or the SSE stream it would have come as."""
        ...


class Conversation(CachedCall, Protocol):
    """A request of a multi-turn API, whose likely next question prefetch may ask ahead of the client."""

    @property
    def follows_up(self) -> bool:
        """Whether its final turn goes on with a conversation the model already answered in."""
        ...

    def continued(self, answer: dict[str, Any], question: str) -> Conversation | None:
        """The request asking `question` next, once this one was answered `answer`; None when there is none."""
        ...


class Reissued(Protocol):
    """For an API whose answers carry what a client may name later (the Responses API's ids): each client is sent
    an answer of its own, a follower of an identical request too, and what it was sent is kept first."""

    def answer_in(self, body: bytes) -> dict[str, Any] | None:
        """The answer an upstream's body (JSON, or a whole stream) holds; None: none to serve (relayed as it is)."""
        ...

    def served(self, answer: dict[str, Any]) -> None:
        """Keep what the client is about to be sent of `answer`."""
        ...


def _key(request: Request, call: CachedCall, upstream: Upstream) -> RequestKey | None:
    key = call.key(tenant_for(request, call.controls.route))
    if key is not None and Upstreams.routed_away(upstream):
        key = answered_by(key, upstream.name)
    return key


async def answer(request: Request, gateway: Gateway, call: CachedCall, trace: Trace, *, upstream: Upstream,
                 reissued: Reissued | None = None, conversation: Conversation | None = None) -> Response:
    trace.model, trace.route, trace.stream = call.model, call.controls.route, call.stream
    who = caller(request)
    key = _key(request, call, upstream)
    # A follower served an answer of its own waits for the leader's whole answer, streamed or not.
    ask = Ask(key, call.controls, who.tenant, embedder_key(request, upstream), call.temperature,
              call.stream and reissued is None, call.variant, call.may_be_private)
    policy = gateway.policy
    decision = await policy.decide(ask)
    # A warming run's request is nobody's use: it teaches prefetch nothing, and its hits start no background call
    # (they would spend outside the run's budget).
    warming = call.controls.warming
    if conversation is None or key is None or not policy.prefetches or not call.controls.store or warming:
        conversation = None
    elif conversation.follows_up and key.prompt is not None and policy.follow_ups is not None:
        # After the lookup, which embedded the prompt on an exact miss: learning reads its vector from there.
        policy.defer(policy.follow_ups.learn(key.conversation, key.prompt, api_key=ask.api_key))
    if isinstance(decision, Hit):
        stale = decision.stale
        trace.hit("stale" if stale else decision.layer, decision.completion.get("usage"), distance=decision.distance,
                  threshold=decision.threshold, origin="" if warming else decision.origin)
        headers = cache_headers("hit", layer=decision.layer, distance=decision.distance, entry=decision.entry)
        if stale is not None:
            headers.update({"x-cache-stale": str(stale.expired_ms // 1000), "age": str(stale.age_ms // 1000)})
            gateway.policy.defer(_revalidate(request, gateway, call, ask, upstream))
        elif decision.layer == "exact" and gateway.policy.refreshes_ahead and not warming:
            gateway.policy.defer(_ahead(request, gateway, call, ask, upstream,
                                        tokens=trace.prompt_tokens + trace.completion_tokens))
        if conversation is not None:
            gateway.policy.defer(_prefetch(request, gateway, conversation, ask, decision.completion, upstream,
                                           served=(trace.prompt_tokens, trace.completion_tokens)))
        return _serve(call, decision.completion, headers, reissued)
    if isinstance(decision, Following):
        trace.hit("flight", decision.usage)  # a stream's usage is known at its end
        whole = reissued.answer_in(decision.body or b"") if reissued is not None else None
        if whole is not None:
            return _serve(call, whole, cache_headers("hit", layer="flight"), reissued)
        return _followed(decision, trace, errors_for(request.scope["path"]))
    trace.outcome, trace.origin = decision.state, decision.origin
    with decision:
        return await _go_upstream(request, gateway, call, decision, trace, upstream)


async def _revalidate(request: Request, gateway: Gateway, call: CachedCall, ask: Ask, upstream: Upstream) -> None:
    """Refresh a stale answer just served, unless another request is refreshing it."""
    miss = await gateway.policy.revalidate(ask)
    if miss is not None:
        await _refresh(request, gateway, call, miss, upstream)


async def _ahead(request: Request, gateway: Gateway, call: CachedCall, ask: Ask, upstream: Upstream, *,
                 tokens: int) -> None:
    """Refresh an exact answer just served before it expires, when it is due and its route's budget allows
    (`tokens`: what the answer cost, reserved before the call and corrected after)."""
    miss = await gateway.policy.ahead(ask, tokens=tokens)
    if miss is not None:
        trace = await _refresh(request, gateway, call, miss, upstream)
        await gateway.policy.spent(miss, reserved=tokens,
                                   tokens=trace.prompt_tokens + trace.completion_tokens)


async def _prefetch(request: Request, gateway: Gateway, conversation: Conversation, ask: Ask,
                    answer: dict[str, Any], upstream: Upstream, *, served: tuple[int, int]) -> None:
    """Ask the likely next question of a conversation just served `answer`, when its answer is not cached and its
    route's budget allows (`served`: the prompt and completion tokens `answer` cost), as the client would: with its
    credentials, in its tenant's scope, so its next turn is a hit. Only after a hit: an answer served a second
    time is one more than one conversation will go on from; one just made upstream may be read by its asker alone."""
    policy, follow_ups = gateway.policy, gateway.policy.follow_ups
    after = conversation.continued(answer, "?")  # its `conversation` digest is the same whatever the question
    context = _key(request, after, upstream) if after is not None else None
    if follow_ups is None or context is None:
        return
    if context.tenant == SHARED_TENANT and not on_gateways_account(request, upstream):
        return  # what everyone on a shared route taught is not asked on one client's own upstream account
    question = await follow_ups.likely(context.conversation)
    if question is None:
        return
    after = conversation.continued(answer, question)
    key = _key(request, after, upstream) if after is not None else None
    if after is None or key is None:
        return
    # Reserved before the call, corrected after: its prompt holds the conversation served, that answer and the
    # question (about 4 characters a token); its own answer is taken to be as long as the one it follows.
    prompt, completion = served
    tokens = prompt + 2 * completion + -(-len(question) // 4)
    miss = await policy.prefetch(replace(ask, key=key, stream=False, variant=after.variant), tokens=tokens)
    if miss is not None:
        trace = await _refresh(request, gateway, after, miss, upstream, event="prefetch")
        await policy.spent(miss, reserved=tokens, tokens=trace.prompt_tokens + trace.completion_tokens)


async def _refresh(request: Request, gateway: Gateway, call: CachedCall, miss: Miss, upstream: Upstream, *,
                   event: str = "refresh") -> Trace:
    """Go upstream as the cached answer's request would have on a miss, and read the answer to its end so that the
    policy settles it (a complete answer replaces the cached one); an `event` of its own (outcome `refresh`) says
    what it cost, as the trace returned does, under the serving request's id (the one the upstream is sent)."""
    trace = Trace(gateway.events, request.scope[TRACE].request_id)
    trace.event, trace.outcome, trace.origin = event, "refresh", miss.origin
    trace.model, trace.route, trace.stream = call.model, call.controls.route, call.stream

    async def told(message: Message) -> None:
        if message["type"] == "http.response.start":
            trace.sent = message["status"]

    with miss:
        try:
            response = await _go_upstream(request, gateway, call, miss, trace, upstream)
            await response(request.scope, _no_disconnect, told)
        except GatewayError:  # the cached answer was served; the next request tries again
            trace.finish(502)
            return trace
    trace.finish()
    return trace


async def _no_disconnect() -> Message:
    await asyncio.Event().wait()  # nobody hangs up on a background read: it ends with the answer
    raise AssertionError("unreachable")


def _serve(call: CachedCall, whole: dict[str, Any], headers: dict[str, str], reissued: Reissued | None) -> Response:
    if reissued is not None:
        reissued.served(whole)
    if call.stream:
        return EventStreamResponse(call.cached(whole), headers)
    return JSONResponse(call.cached(whole), headers=headers)


def _followed(following: Following, trace: Trace, errors: ErrorShape) -> Response:
    """An identical request's answer: `x-cache: hit` with `x-cache-layer: flight` (it bought nothing upstream),
    byte for byte the leader's answer, not its account's headers."""
    headers = cache_headers("hit", layer="flight")
    if following.reader is not None:
        return FlightStream(following.head, following.reader, headers, ended=trace.answered, errors=errors)
    return RelayedResponse(following.head, following.body or b"", headers)


async def _go_upstream(request: Request, gateway: Gateway, call: CachedCall, miss: Miss, trace: Trace,
                       upstream: Upstream) -> Response:
    caching = miss.key is not None
    trace.upstream_sent()
    sent = await upstream.client.send("POST", call.path, headers=forwarded_headers(request, upstream),
                               content=call.upstream_body(caching=caching))
    head = Head(sent.status, sent.headers)
    if call.stream and sent.status == 200 and sent.content_type.startswith("text/event-stream"):
        reader = gateway.policy.settle_stream(miss, head, sent, call.stream_answer(caching=caching))
        return FlightStream(head, reader, cache_headers(miss.state), ended=trace.answered,
                            errors=errors_for(request.scope["path"]))
    payload, rest = await sent.read_within(gateway.settings.max_entry_bytes)
    if rest is not None:  # too big to store or share: relayed as it comes, never parsed on the event loop
        trace.outcome = "bypass"
        return RelayedStream.overflowing(sent, payload, rest, cache_headers("bypass"))
    trace.upstream_done()
    if sent.status != 200:
        return RelayedResponse(sent, payload, cache_headers(miss.state))  # errors pass through, never stored
    try:
        whole = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return ErrorResponse("The upstream API answered with a body that is not valid JSON.", status=502,
                             code="upstream_protocol_error", headers=cache_headers("bypass"),
                             errors=errors_for(request.scope["path"]))
    if isinstance(whole, dict):
        trace.usage(whole.get("usage"))
    gateway.policy.settle(miss, whole if isinstance(whole, dict) and not call.stream else None, head=head,
                          body=payload)
    return RelayedResponse(sent, payload, cache_headers(miss.state))
