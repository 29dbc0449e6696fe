"""The path every cached API shares (chat completions, and each API whose answers the cache keeps whole): ask the
cache policy what to do with a request read by its wire format, and answer: a cached answer written back by that
wire format (JSON or SSE), an identical request's answer as it arrives, or the upstream's answer relayed (a stream
event by event) and handed back to the policy to settle. Off the request path, the background calls the policy
decides on, carried out here as a client would go upstream: a stale answer's refresh, a hot one's refresh-ahead, a
conversation's likely next question (whose request its wire format builds)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from gateway.cache.policy import Ask, Errand, Following, Hit, Miss, prefetch_errand
from gateway.errors import GatewayError, UpstreamProtocolError
from gateway.flight.capture import StreamAnswer
from gateway.flight.flight import Head
from gateway.upstreams import Upstream
from gateway.web.dialects import errors_for
from gateway.web.failures import failure
from gateway.web.request_parts import Asker, asker, cache_headers, forwarded_headers, on_gateways_account
from gateway.web.responses import (
    EventStreamResponse,
    FlightStream,
    JSONResponse,
    RelayedResponse,
    RelayedStream,
)
from gateway.web.services import Gateway
from gateway.web.trace import TRACE, Trace
from gateway.wire.canonical import RequestKey, answered_by
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

    def served(self, answer: dict[str, Any], raw: bytes) -> None:
        """Keep what the client is about to be sent of `answer` (`raw`: its bytes, as stored or relayed)."""
        ...


def _key(call: CachedCall, who: Asker) -> RequestKey | None:
    key = call.key(who.scope)
    if key is not None and who.provider is not None:
        key = answered_by(key, who.provider)
    return key


async def answer(request: Request, gateway: Gateway, call: CachedCall, trace: Trace, *, upstream: Upstream,
                 reissued: Reissued | None = None, conversation: Conversation | None = None) -> Response:
    trace.model, trace.route, trace.stream = call.model, call.controls.route, call.stream
    who = asker(request, upstream, call.controls.route)
    key = _key(call, who)
    # A follower served an answer of its own waits for the leader's whole answer, streamed or not.
    ask = Ask(key, call.controls, who.tenant, who.embedder_key, call.temperature,
              call.stream and reissued is None, call.variant, call.may_be_private)
    policy = gateway.policy
    decision = await policy.decide(ask)
    background = policy.background
    if conversation is not None and not background.conversing(ask, follows_up=conversation.follows_up):
        conversation = None
    if isinstance(decision, Hit):
        stale = decision.stale
        trace.hit("stale" if stale else decision.layer, decision.completion.get("usage"), distance=decision.distance,
                  threshold=decision.threshold, origin="" if call.controls.warming else decision.origin)
        headers = cache_headers("hit", layer=decision.layer, distance=decision.distance, entry=decision.entry)
        if stale is not None:
            headers.update({"x-cache-stale": str(stale.expired_ms // 1000), "age": str(stale.age_ms // 1000)})
        served = trace.prompt_tokens, trace.completion_tokens
        refresh = background.refresh(ask, decision, served=sum(served))
        if refresh is not None:
            policy.defer(_run(request, gateway, call, refresh, upstream))
        if conversation is not None:
            policy.defer(_prefetch(request, gateway, conversation, ask, decision.completion, upstream, who,
                                   served=served))
        return _serve(call, decision.completion, decision.raw, headers, reissued)
    if isinstance(decision, Following):
        trace.hit("flight", decision.usage)  # a stream's usage is known at its end
        raw = decision.body or b""
        whole = reissued.answer_in(raw) if reissued is not None else None
        if whole is not None:
            return _serve(call, whole, raw, cache_headers("hit", layer="flight"), reissued)
        return _followed(decision, trace, errors_for(request.scope["path"]))
    trace.outcome, trace.origin = decision.state, decision.origin
    with decision:
        return await _go_upstream(request, gateway, call, decision, trace, upstream)


async def _prefetch(request: Request, gateway: Gateway, conversation: Conversation, ask: Ask,
                    answer: dict[str, Any], upstream: Upstream, who: Asker, *, served: tuple[int, int]) -> None:
    """Ask the likely next question of a conversation just served `answer` (which cost `served` prompt and
    completion tokens), when the cache says so, as the client would: with its credentials, in its tenant's scope,
    so its next turn is a hit. Only after a hit: an answer served a second time is one more than one conversation
    will go on from; one just made upstream may be read by its asker alone."""
    background = gateway.policy.background
    after = conversation.continued(answer, "?")  # its `conversation` digest is the same whatever the question
    context = _key(after, who) if after is not None else None
    if context is None:
        return
    question = await background.next_question(context, on_gateways_account=on_gateways_account(request, upstream))
    after = conversation.continued(answer, question) if question is not None else None
    key = _key(after, who) if after is not None else None
    if question is None or after is None or key is None:
        return
    errand = prefetch_errand(ask, key, after.variant, served=served, question=question)
    await _run(request, gateway, after, errand, upstream)


async def _run(request: Request, gateway: Gateway, call: CachedCall, errand: Errand, upstream: Upstream) -> None:
    """Carry out a background call the cache decided on, going upstream as `call` would on a miss."""
    await gateway.policy.background.run(errand, lambda miss: _refresh(request, gateway, call, miss, upstream))


async def _refresh(request: Request, gateway: Gateway, call: CachedCall, miss: Miss, upstream: Upstream) -> int:
    """Go upstream as the cached answer's request would have on a miss, and read the answer to its end so that the
    policy settles it (a complete answer replaces the cached one); an event of its own (named for what the miss is,
    a refresh or a prefetch; outcome `refresh`) says what it cost, as the tokens returned do, under the serving
    request's id (the one the upstream is sent)."""
    trace = Trace(gateway.events, request.scope[TRACE].request_id)
    trace.event, trace.outcome, trace.origin = miss.origin, "refresh", miss.origin
    trace.model, trace.route, trace.stream = call.model, call.controls.route, call.stream

    async def told(message: Message) -> None:
        if message["type"] == "http.response.start":
            trace.sent = message["status"]

    with miss:
        try:
            response = await _go_upstream(request, gateway, call, miss, trace, upstream)
            await response(request.scope, _no_disconnect, told)
        except GatewayError as error:  # the cached answer was served; the next request tries again
            trace.finish(failure(error)[0])
    trace.finish()  # a no-op once finished
    return trace.prompt_tokens + trace.completion_tokens


async def _no_disconnect() -> Message:
    await asyncio.Event().wait()  # nobody hangs up on a background read: it ends with the answer
    raise AssertionError("unreachable")


def _serve(call: CachedCall, whole: dict[str, Any], raw: bytes, headers: dict[str, str],
           reissued: Reissued | None) -> Response:
    if reissued is not None:
        reissued.served(whole, raw)
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
    except orjson.JSONDecodeError as error:
        raise UpstreamProtocolError("The upstream API answered with a body that is not valid JSON.") from error
    if isinstance(whole, dict):
        trace.usage(whole.get("usage"))
    gateway.policy.settle(miss, whole if isinstance(whole, dict) and not call.stream else None, head=head,
                          body=payload)
    return RelayedResponse(sent, payload, cache_headers(miss.state))
