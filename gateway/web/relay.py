"""Responses built from what the upstream sent: its status and headers (minus hop-by-hop, already
filtered by the upstream client), its body whole or streamed, and the gateway's cache headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response, StreamingResponse

from gateway.upstream import UpstreamResponse


def _raw(headers: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    return raw


def whole(upstream: UpstreamResponse, body: bytes, extra: Mapping[str, str]) -> Response:
    response = Response(body, status_code=upstream.status)
    response.raw_headers = [*_raw(upstream.headers, extra), (b"content-length", str(len(body)).encode())]
    return response


def streamed(upstream: UpstreamResponse, body: AsyncIterator[bytes], extra: Mapping[str, str]) -> Response:
    response = StreamingResponse(body, status_code=upstream.status)
    response.raw_headers = _raw(upstream.headers, extra)
    return response
