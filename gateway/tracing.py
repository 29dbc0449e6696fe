"""Traces, as the cache and the upstream adapter see them: a span around each step worth timing (the exact
lookup, the embedding, the vector search, the verifier, the upstream call, the store write), opened on a
`Tracer` that `gateway.assembly` picks. Tracing is off by default, and then every span is `NO_SPAN`: a step
costs a call that returns a shared object, and nothing of OpenTelemetry is imported (`gateway.otel` is)."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Protocol

Value = str | int | float | bool


class Span(Protocol):
    """One step's span. Used as a context manager it is the current span inside (the parent of the spans opened
    there) and ends on exit, failed if an exception leaves it; `end` ends it before, and more than once."""

    def set(self, name: str, value: Value) -> None: ...

    def event(self, name: str) -> None: ...

    def rename(self, name: str) -> None: ...

    def fail(self, reason: str) -> None: ...

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The W3C trace context (`traceparent`, `tracestate`) that names this span as a request's parent."""
        ...

    def end(self) -> None: ...

    def __enter__(self) -> Span: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None: ...


class Tracer(Protocol):
    on: bool

    def span(self, name: str) -> Span:
        """A step inside the current span."""
        ...

    def client(self, name: str) -> Span:
        """A call out of the gateway, inside the current span; its caller ends it."""
        ...

    def server(self, name: str, headers: Iterable[tuple[bytes, bytes]]) -> Span:
        """A request's own span, continuing the trace its client's `traceparent` names (else a new one)."""
        ...

    async def close(self) -> None:
        """Send the spans still waiting."""
        ...


class _NoSpan:
    __slots__ = ()

    def set(self, name: str, value: Value) -> None:
        pass

    def event(self, name: str) -> None:
        pass

    def rename(self, name: str) -> None:
        pass

    def fail(self, reason: str) -> None:
        pass

    def headers(self) -> list[tuple[bytes, bytes]]:
        return []

    def end(self) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        pass


NO_SPAN = _NoSpan()


class _NoTracing:
    on = False

    def span(self, name: str) -> Span:
        return NO_SPAN

    def client(self, name: str) -> Span:
        return NO_SPAN

    def server(self, name: str, headers: Iterable[tuple[bytes, bytes]]) -> Span:
        return NO_SPAN

    async def close(self) -> None:
        pass


NO_TRACING: Tracer = _NoTracing()
