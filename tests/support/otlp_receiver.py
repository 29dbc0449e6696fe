"""An OTLP/HTTP trace receiver on 127.0.0.1, as a collector would be: it takes `POST /v1/traces` bodies in
protobuf (`ExportTraceServiceRequest`, decoded with the `opentelemetry-proto` classes), keeps every span, and
answers with an empty `ExportTraceServiceResponse`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_id: str  # "" for a root
    kind: str  # "server", "client", "internal"
    attributes: dict[str, Any]
    events: tuple[str, ...]
    failed: bool
    service: str


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return getattr(value, which) if which is not None else None


def _spans(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: _value(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                    Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower(),
                    {item.key: _value(item.value) for item in span.attributes},
                    tuple(event.name for event in span.events),
                    span.status.code == Status.STATUS_CODE_ERROR, resource.get("service.name", "")))
    return spans


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.posts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                spans = _spans(body)
                with receiver._lock:
                    receiver.posts += 1
                    receiver.spans.extend(spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    def trace(self, trace_id: str, *names: str, timeout: float = 10.0) -> list[ReceivedSpan]:
        """The spans of one trace, once it holds a span of each name given (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = [span for span in self.spans if span.trace_id == trace_id]
            if {span.name for span in spans} >= set(names):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id} lacks {set(names) - {span.name for span in spans}}: "
                                     f"{[span.name for span in spans]}")
            time.sleep(0.02)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
