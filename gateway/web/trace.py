"""One request's figures for the metrics stream and the access log. An endpoint takes its request's `Trace`
(`trace_of`) and fills it as it learns things (scope, hit, upstream timing, usage); the `Observed` middleware
emits it as one event as the response's last bytes are handed to the server, or when the response ends any other
way (emitting only queues a tuple), and writes the request's access log line once the response is over. Every
request has a `request_id` (`gateway/wire/request_id.py`), returned to the client as `x-request-id`."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics.events import Event
from gateway.metrics.recorder import EventRecorder
from gateway.web.access_log import AccessLog
from gateway.web.services import GATEWAY
from gateway.wire.controls import DEFAULT_ROUTE
from gateway.wire.request_id import request_id, with_request_id

TRACE = "latency_slayer.trace"  # scope entry: the request's Trace
CLIENT_GONE = 499  # the client closed the connection before the response ended


_INPUT_TOKENS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Trace:
    __slots__ = ("_done", "_recorder", "_start", "_upstream_start", "completion_tokens", "distance", "event",
                 "latency_ms", "layer", "model", "origin", "outcome", "prompt_tokens", "request_id", "route", "sent",
                 "status", "stream", "threshold", "ttfb_ms", "upstream_ms", "upstream_request_id")

    def __init__(self, recorder: EventRecorder, rid: str) -> None:
        self._recorder = recorder
        self.request_id = rid
        self.upstream_request_id: str | None = None  # the id a relayed upstream answer gave itself
        self._start = time.perf_counter()
        self._upstream_start: float | None = None
        self._done = False
        self.event: str | None = None  # none: the request is not one the metrics count
        self.model = ""
        self.route = DEFAULT_ROUTE
        self.stream = False
        self.outcome = "bypass"  # until the endpoint knows better
        self.layer: str | None = None
        self.distance: float | None = None
        self.threshold: float | None = None
        # What wrote the answer: of a hit, the entry it was served from; of a miss, what its answer is stored as
        # (`Entry.origin`; "": a client)
        self.origin = ""
        self.upstream_ms: float | None = None
        self.ttfb_ms: float | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.sent = 200  # the status the response started with
        self.status: int | None = None  # the answer's own, when it differs: a stream may break after its 200
        self.latency_ms: float | None = None  # set as it ends

    def _elapsed_ms(self, since: float) -> float:
        return (time.perf_counter() - since) * 1000

    def usage(self, usage: Any) -> None:
        """Token counts in each API's spelling: chat's prompt and completion tokens, or the input and output
        tokens of the Responses API and of Anthropic (which counts input read from or written to its cache apart)."""
        if not isinstance(usage, dict):
            return
        if "prompt_tokens" in usage or "completion_tokens" in usage:
            self.prompt_tokens = _count(usage.get("prompt_tokens"))
            self.completion_tokens = _count(usage.get("completion_tokens"))
        else:
            self.prompt_tokens = sum(_count(usage.get(name)) for name in _INPUT_TOKENS)
            self.completion_tokens = _count(usage.get("output_tokens"))

    def hit(self, layer: str, usage: Any, *, distance: float | None = None, threshold: float | None = None,
            origin: str = "") -> None:
        self.outcome, self.layer, self.distance, self.threshold, self.origin = "hit", layer, distance, threshold, origin
        self.usage(usage)

    def upstream_sent(self) -> None:
        self._upstream_start = time.perf_counter()

    def upstream_done(self) -> None:
        if self._upstream_start is not None and self.upstream_ms is None:
            self.upstream_ms = self._elapsed_ms(self._upstream_start)

    def first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = self._elapsed_ms(self._start)

    def answered(self, status: int | None, usage: Any) -> None:
        """A relayed stream ended: the upstream's time runs to here. With its answer's own status and usage, or
        None when it did not end whole (its client left)."""
        self.upstream_done()
        if status is not None:
            self.status = status
            self.usage(usage)

    def finish(self, status: int | None = None) -> None:
        """End the request, once: with `status` if given, else the answer's or the response's own; and emit its
        event if it is one the metrics count."""
        if self._done:
            return
        self._done = True
        self.status = status = status or self.status or self.sent
        self.latency_ms = latency = self._elapsed_ms(self._start)
        if status >= 400:
            self.outcome = "error"
        if self.outcome != "hit":
            self.layer = None
        if self.stream and self.ttfb_ms is None:
            self.ttfb_ms = latency  # a stream answered whole (a replayed hit, an error) has its first byte last
        if self.event is None:
            return
        saved = self.prompt_tokens + self.completion_tokens if self.outcome == "hit" else 0
        recorder = self._recorder
        cost = recorder.prices.cost(self.model, self.prompt_tokens, self.completion_tokens) if saved else 0.0
        recorder.emit(Event(
            int(time.time() * 1000), self.event, self.outcome, self.layer, self.stream, status, latency,
            self.upstream_ms, self.ttfb_ms, self.distance, self.threshold, self.model, self.route,
            self.prompt_tokens, self.completion_tokens, saved, cost, recorder.source, self.request_id, self.origin))


def trace_of(request: Request, event: str) -> Trace:
    """The request's trace, from now on emitted as one `event` of the metrics stream."""
    trace: Trace = request.scope[TRACE]
    trace.event = event
    return trace


class Observed:
    """Pure ASGI middleware: gives each request the worker's Gateway (`request_parts.gateway_of` reads it) and a
    Trace, and emits the trace as the response ends, reading the status, the first byte and the last from the
    response's own messages; puts the request id on the response and writes the access log line. A response
    that never sent its last byte ended with the client gone; one that raised, with a server error."""

    def __init__(self, app: ASGIApp, access: AccessLog) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gateway = scope[GATEWAY] = scope["app"].state.gateway
        trace = scope[TRACE] = Trace(gateway.events, request_id(scope["headers"]))

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace.sent = message["status"]
                headers, trace.upstream_request_id = with_request_id(message.get("headers", ()), trace.request_id)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                if trace.stream and message.get("body"):
                    trace.first_byte()
                if not message.get("more_body", False):
                    trace.finish()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            trace.finish(500)
            raise
        finally:
            trace.finish(CLIENT_GONE)  # a no-op when its last byte went out
            self.access.write(scope, trace)  # after the response: writing it costs the client nothing
