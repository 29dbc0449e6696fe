"""One request's figures for the metrics stream. An endpoint wrapped by `observed` fills its `Trace` as it
learns things (scope, hit, upstream timing, usage); the wrapper emits it as one event when the response is
ready, or, for a relayed stream, when the last byte went out. Emitting only queues a tuple."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.metrics.events import Event
from gateway.metrics.recorder import EventRecorder
from gateway.web.error_responses import failure
from gateway.web.services import gateway_of
from gateway.wire.controls import DEFAULT_ROUTE

CLIENT_GONE = 499  # the client closed the connection before the response ended


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class Trace:
    __slots__ = ("_done", "_recorder", "_start", "_upstream_start", "completion_tokens", "distance", "event",
                 "layer", "model", "open", "outcome", "prompt_tokens", "route", "status", "stream", "threshold",
                 "ttfb_ms", "upstream_ms")

    def __init__(self, recorder: EventRecorder, event: str) -> None:
        self._recorder = recorder
        self._start = time.perf_counter()
        self._upstream_start: float | None = None
        self._done = False
        self.event = event
        self.model = ""
        self.route = DEFAULT_ROUTE
        self.stream = False
        self.outcome = "bypass"  # until the endpoint knows better
        self.layer: str | None = None
        self.distance: float | None = None
        self.threshold: float | None = None
        self.upstream_ms: float | None = None
        self.ttfb_ms: float | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.status = 200  # of a relayed stream, which may break after its 200 went out
        self.open = False  # a relayed stream ends the trace itself

    def _elapsed_ms(self, since: float) -> float:
        return (time.perf_counter() - since) * 1000

    def usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.prompt_tokens = _count(usage.get("prompt_tokens"))
            self.completion_tokens = _count(usage.get("completion_tokens"))

    def hit(self, layer: str, usage: Any, *, distance: float | None = None, threshold: float | None = None) -> None:
        self.outcome, self.layer, self.distance, self.threshold = "hit", layer, distance, threshold
        self.usage(usage)

    def upstream_sent(self) -> None:
        self._upstream_start = time.perf_counter()

    def upstream_done(self) -> None:
        if self._upstream_start is not None and self.upstream_ms is None:
            self.upstream_ms = self._elapsed_ms(self._upstream_start)

    def relayed(self, body: AsyncGenerator[bytes, None]) -> _Relayed:
        """`body`, timing its first byte and ending the trace when it ends rather than when it is returned."""
        self.open = True
        return _Relayed(self, body)

    def first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = self._elapsed_ms(self._start)

    def end_stream(self, status: int) -> None:
        self.upstream_done()
        self.finish(status)

    def finish(self, status: int) -> None:
        if self._done:
            return
        self._done = True
        outcome = self.outcome if status < 400 else "error"
        saved = self.prompt_tokens + self.completion_tokens if outcome == "hit" else 0
        recorder = self._recorder
        cost = recorder.prices.cost(self.model, self.prompt_tokens, self.completion_tokens) if saved else 0.0
        latency = self._elapsed_ms(self._start)
        # A stream answered whole (a replayed hit, an error) has its first byte when it has its last.
        ttfb = latency if self.stream and self.ttfb_ms is None else self.ttfb_ms
        recorder.emit(Event(
            int(time.time() * 1000), self.event, outcome, self.layer if outcome == "hit" else None, self.stream,
            status, latency, self.upstream_ms, ttfb, self.distance, self.threshold, self.model, self.route,
            self.prompt_tokens, self.completion_tokens, saved, cost, recorder.source))


class _Relayed:
    """A relayed body that ends its trace however it ends: relayed to the last byte, broken off, or closed
    before it was ever read (a client that left before the first byte). An async generator could not do
    the last: closing one that never started runs none of its code."""

    def __init__(self, trace: Trace, body: AsyncGenerator[bytes, None]) -> None:
        self._trace = trace
        self._body = body

    def __aiter__(self) -> _Relayed:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            self._trace.end_stream(self._trace.status)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self._trace.end_stream(CLIENT_GONE)
            raise
        except Exception:
            self._trace.end_stream(500)
            raise
        self._trace.first_byte()
        return chunk

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
        finally:
            self._trace.end_stream(CLIENT_GONE)  # a no-op when the body had already ended


Handler = Callable[[Request, Trace], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def observed(event: str) -> Callable[[Handler], Endpoint]:
    """Give the handler a Trace and emit it once, whatever the handler ends with."""

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            trace = Trace(gateway_of(request).events, event)
            try:
                response = await handler(request, trace)
            except GatewayError as error:
                trace.finish(failure(error)[0])
                raise
            except (asyncio.CancelledError, ClientDisconnect):
                trace.finish(CLIENT_GONE)
                raise
            except Exception:
                trace.finish(500)
                raise
            if not trace.open:
                trace.finish(response.status_code)
            return response

        return endpoint

    return wrap
