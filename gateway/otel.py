"""The OpenTelemetry adapter of `gateway.tracing`: spans made by the OpenTelemetry SDK and sent in batches over
OTLP/HTTP (protobuf) by a thread of the SDK's own, W3C trace context read from clients and written upstream.
Imported only when `OTEL_TRACES_EXPORTER=otlp` (the `otel` extra); the rest of the gateway never names it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError
from types import TracebackType

from opentelemetry import context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span as SdkSpan
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.tracing import Value

_W3C = TraceContextTextMapPropagator()  # W3C alone, whatever OTEL_PROPAGATORS says: upstreams speak it
_CONTEXT_HEADERS = (b"traceparent", b"tracestate")
# What a stop waits for the spans still queued. The SDK's own shutdown waits up to 30 s for a collector that is
# down or hung (10 s an export, and again for each batch), past a stop's grace period: their spans are lost instead.
FLUSH_SECS = 3.0


class OtelSpan:
    __slots__ = ("_ended", "_span", "_token")

    def __init__(self, span: SdkSpan) -> None:
        self._span = span
        self._token: object | None = None
        self._ended = False

    def set(self, name: str, value: Value) -> None:
        self._span.set_attribute(name, value)

    def event(self, name: str) -> None:
        self._span.add_event(name)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def fail(self, reason: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, reason))

    def headers(self) -> list[tuple[bytes, bytes]]:
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=set_span_in_context(self._span))
        return [(name.encode(), value.encode()) for name, value in carrier.items()]

    def end(self) -> None:
        if not self._ended:  # the SDK warns of a second end
            self._ended = True
            self._span.end()

    def __enter__(self) -> OtelSpan:
        self._token = context.attach(set_span_in_context(self._span))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is not None and issubclass(kind, Exception):
            self.fail(kind.__name__)  # its message may quote the request
        if self._token is not None:
            context.detach(self._token)  # type: ignore[arg-type]
        self.end()


class OtlpTracer:
    on = True

    def __init__(self, endpoint: str, *, service: str, client_context: bool = True) -> None:
        """`endpoint`: the collector's OTLP/HTTP base URL; spans go to its `/v1/traces`. `client_context`: whether a
        request's span continues the trace its `traceparent` names (`TRACE_CLIENT_CONTEXT`)."""
        self._client_context = client_context
        # No flush at exit of its own: `close` is the only one, and it is bounded.
        self._provider = TracerProvider(resource=Resource.create({"service.name": service}), shutdown_on_exit=False)
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        self._tracer = self._provider.get_tracer("latency_slayer")
        # The SDK logs a warning for each oversized `traceparent` or `tracestate` it ignores: a line per request
        # that any client could write into the logs.
        logging.getLogger(_W3C.extract.__module__).setLevel(logging.ERROR)

    def span(self, name: str) -> OtelSpan:
        return OtelSpan(self._tracer.start_span(name))

    def client(self, name: str) -> OtelSpan:
        return OtelSpan(self._tracer.start_span(name, kind=SpanKind.CLIENT))

    def server(self, name: str, headers: Iterable[tuple[bytes, bytes]]) -> OtelSpan:
        if not self._client_context:
            headers = ()  # a trace of the gateway's own, sampled by it alone
        # Every value of each: several `tracestate` fields make one list (W3C), not the last alone.
        carrier: dict[str, list[str]] = {}
        for key, value in headers:
            if key.lower() in _CONTEXT_HEADERS:
                carrier.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        # Extracted into an empty context: a request without a valid `traceparent` starts a trace of its own.
        return OtelSpan(self._tracer.start_span(name, context=_W3C.extract(carrier, context=context.Context()),
                                                kind=SpanKind.SERVER))

    async def close(self) -> None:
        """Sends what is waiting, for up to `FLUSH_SECS`. The SDK blocks, on a daemon thread, which the process
        leaves behind on exit (a thread of `asyncio.to_thread` would hold the event loop's close instead)."""
        shut: Future[None] = Future()

        def shutdown() -> None:
            self._provider.shutdown()
            with contextlib.suppress(InvalidStateError):  # `close` gave up waiting, or was cancelled
                shut.set_result(None)

        threading.Thread(target=shutdown, name="otel-shutdown", daemon=True).start()
        with contextlib.suppress(TimeoutError):  # the collector does not answer: the spans waiting are lost
            await asyncio.wait_for(asyncio.wrap_future(shut), FLUSH_SECS)
