"""Responses built from what the upstream sent: its status and headers (minus hop-by-hop, already
filtered by the upstream client), its body whole or streamed, and the gateway's cache headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.upstream import UpstreamResponse


class Answer(Protocol):
    """The start of an upstream answer: an UpstreamResponse, or the head a single-flight shares."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> list[tuple[str, str]]: ...


class _UpstreamStream(StreamingResponse):
    """A streamed upstream body that is always closed: a client that leaves before the first byte cancels
    the response before the body is ever iterated, so the body's own clean-up would never run. Without an
    upstream of its own, the body is a single-flight reader, which closes nothing but itself."""

    def __init__(self, status: int, body: AsyncIterator[bytes], upstream: UpstreamResponse | None) -> None:
        super().__init__(body, status_code=status)
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:
                    await close()
                if self._upstream is not None:
                    await self._upstream.close()


def _raw(headers: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    return raw


def whole(upstream: Answer, body: bytes, extra: Mapping[str, str]) -> Response:
    response = Response(body, status_code=upstream.status)
    response.raw_headers = [*_raw(upstream.headers, extra), (b"content-length", str(len(body)).encode())]
    return response


def streamed(upstream: UpstreamResponse, body: AsyncIterator[bytes], extra: Mapping[str, str]) -> Response:
    """`body` is `upstream.stream()`: as it came, in its content-encoding, when the gateway cannot decode it."""
    response = _UpstreamStream(upstream.status, body, upstream)
    response.raw_headers = _raw(upstream.headers, extra)
    if upstream.undecodable is not None:
        response.raw_headers.append((b"content-encoding", upstream.undecodable.encode("latin-1")))
    return response


def overflowing(upstream: UpstreamResponse, first: bytes, rest: AsyncIterator[bytes],
                extra: Mapping[str, str]) -> Response:
    """An answer found too big to hold as it was read: what came so far, then the rest as it comes."""

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in rest:
            yield chunk

    return streamed(upstream, body(), extra)


def shared(head: Answer, body: AsyncIterator[bytes], extra: Mapping[str, str]) -> Response:
    """A streamed answer read from a single-flight, which owns the upstream request."""
    response = _UpstreamStream(head.status, body, None)
    response.raw_headers = _raw(head.headers, extra)
    return response
