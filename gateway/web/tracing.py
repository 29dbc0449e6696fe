"""Each request's server span, when tracing is on (`OTEL_TRACES_EXPORTER`): it continues the trace its client's
`traceparent` names, is the current span while the request is answered (so the cache's steps and the upstream
call are its children), and ends as the response's last bytes leave, with what the request's `Trace` learned:
status, outcome, layer, distance, model, route. Never a prompt, an answer, a key or a tenant."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.tracing import Span
from gateway.web.services import GATEWAY
from gateway.web.trace import CLIENT_GONE, TRACE, Trace

MAX_TEXT = 256  # a client-chosen value (a model, a route) is cut to this on a span
# Any other method a client sends is `_OTHER` (as OpenTelemetry's HTTP conventions have it): it names the span, and
# span names must stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def _text(value: str) -> str:
    return value[:MAX_TEXT]


def _method(scope: Scope) -> str:
    return scope["method"] if scope["method"] in METHODS else "_OTHER"


def _finish(span: Span, scope: Scope, status: int) -> None:
    template = getattr(scope.get("route"), "path", None)
    if template is not None:
        span.rename(f"{_method(scope)} {template}")
        span.set("http.route", template)
    span.set("http.response.status_code", status)
    trace: Trace | None = scope.get(TRACE)
    if trace is not None and trace.event is not None:
        outcome = trace.outcome if status < 400 else "error"
        span.set("cache.outcome", outcome)
        if outcome == "hit" and trace.layer is not None:
            span.set("cache.layer", trace.layer)
        if trace.distance is not None:
            span.set("cache.distance", trace.distance)
        if trace.threshold is not None:
            span.set("cache.threshold", trace.threshold)
        span.set("gen_ai.request.model", _text(trace.model))
        span.set("cache.route", _text(trace.route))
        span.set("cache.stream", trace.stream)
    if status >= 500:
        span.fail(f"status {status}")
    span.end()


class Traced:
    """Pure ASGI middleware, inside `Observed` (whose Trace it reads as the response ends)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._traced(scope, receive, send)
        else:  # lifespan
            await self.app(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = _method(scope)
        span = scope[GATEWAY].tracer.server(method, scope["headers"])
        span.set("http.request.method", method)
        span.set("url.path", _text(scope["path"]))
        span.set("http.request_id", scope[TRACE].request_id)  # Observed's: the client's when plausible, else made
        started: list[int] = []  # the status the response started with
        done: list[bool] = []

        def finish(status: int) -> None:
            if not done:
                done.append(True)
                _finish(span, scope, status)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                trace: Trace | None = scope.get(TRACE)
                # A stream may break after its 200: the answer's own status, as the request's event has it.
                finish((trace.status if trace is not None else None) or started[0])
            await send(message)

        with span:
            try:
                await self.app(scope, receive, watch)
            except Exception:
                finish(500)
                raise
            finally:
                finish(CLIENT_GONE)  # a no-op when its last byte went out
