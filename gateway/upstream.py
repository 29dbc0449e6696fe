"""The upstream adapter: one pooled httpx client, forwarded headers, and httpx's errors mapped onto the
gateway's own (unreachable, timeout, protocol) so nothing above this module knows httpx."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.errors import UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable
from gateway.tracing import NO_SPAN, NO_TRACING, Span, Tracer

# Hop-by-hop headers (RFC 9110 7.6.1), plus what httpx recomputes or this gateway consumes itself.
_NOT_FORWARDED = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length", b"accept-encoding",
    b"cache-control", b"x-route", b"x-cache-ttl", b"x-cache-threshold", b"x-cache-origin",
})
# The HTTP server that sends a response dates it, so the upstream's `date` would be a second one. A body is
# returned decoded, so without its `content-encoding` (but see `UpstreamResponse.stream`).
_NOT_RETURNED = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "content-encoding", "date",
})
# Idle upstream connections are dropped before the 5 s after which uvicorn (vLLM and many OpenAI-compatible
# servers), hypercorn, Node and llama.cpp's server close theirs: reusing one as the server closes it fails the
# request. The second of margin covers the round trip; less would cost a new TLS handshake after shorter pauses.
KEEPALIVE_EXPIRY = 4.0
# A request sent on a connection the upstream had just closed fails within a round trip, reset or ended before
# any answer; never with a timeout, nor a refused connection. One that fails later may have been worked on (and
# billed), so it is not sent again.
_STALE_FAILURE_WITHIN = 1.0
_STALE_FAILURES = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
_TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate"})  # replaced by the upstream span's when tracing


def _mapped(error: httpx.HTTPError) -> Exception:
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        return UpstreamUnreachable(f"The upstream API could not be reached: {error.__class__.__name__}")
    if isinstance(error, httpx.TimeoutException):
        return UpstreamTimeout("The upstream API did not answer in time.")
    if isinstance(error, httpx.DecodingError):
        return UpstreamProtocolError("The upstream API sent a body that does not decode as its content-encoding says.")
    return UpstreamProtocolError(f"The upstream API connection failed: {error.__class__.__name__}")


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[str, str]]  # what may be returned to the client with the decoded body
    undecodable: str | None  # the body's content-encoding when the gateway cannot decode it
    _response: httpx.Response
    _span: Span = NO_SPAN  # the upstream call's, ended with the body
    _sent_at: float = 0.0

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "")

    async def read(self) -> bytes:
        """The decoded body, for a reader of its content."""
        try:
            self._require_decodable()
            body = await self._response.aread()
            self._arrived("upstream.first_byte")
            self._arrived("upstream.last_byte")
            return body
        except httpx.HTTPError as error:
            raise self._failed(error) from error
        finally:
            await self.close()

    async def read_within(self, limit: int) -> tuple[bytes, AsyncIterator[bytes] | None]:
        """The decoded body when it is at most `limit` bytes, else what came so far and the rest as it comes: an
        answer too big to cache is relayed, never held whole (a client can ask for hundreds of MB of vectors)."""
        body = self.decoded()
        chunks, size = [], 0
        async for chunk in body:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks), body
        return b"".join(chunks), None

    def stream(self) -> AsyncIterator[bytes]:
        """The body as it is relayed, as it arrives: decoded, or as it came when the gateway cannot decode it
        (and then goes with its content-encoding, `undecodable`). Closing the iterator early closes the upstream
        request."""
        return self._chunks(decode=self.undecodable is None)

    def decoded(self) -> AsyncIterator[bytes]:
        """The decoded body as it arrives, for a reader of its content."""
        return self._chunks(decode=True)

    async def _chunks(self, *, decode: bool) -> AsyncIterator[bytes]:
        first = True
        try:
            if decode:
                self._require_decodable()
            async for chunk in self._response.aiter_bytes() if decode else self._response.aiter_raw():
                if first:
                    first = False
                    self._arrived("upstream.first_byte")
                yield chunk
            self._arrived("upstream.last_byte")
        except httpx.HTTPError as error:
            raise self._failed(error) from error
        finally:
            await self.close()

    def _require_decodable(self) -> None:
        if self.undecodable is not None:
            raise UpstreamProtocolError(f"The upstream API answered in an encoding the gateway cannot decode "
                                        f"({self.undecodable}).")

    def _arrived(self, event: str) -> None:
        """Time to the body's first (or last) byte, on the upstream span."""
        if self._span is not NO_SPAN:
            self._span.event(event)
            self._span.set(f"{event}_ms", (time.monotonic() - self._sent_at) * 1000)

    def _failed(self, error: httpx.HTTPError) -> Exception:
        mapped = _mapped(error)
        self._span.fail(type(mapped).__name__)
        return mapped

    async def close(self) -> None:
        self._span.end()
        await self._response.aclose()


class UpstreamClient:
    def __init__(self, base_url: str, *, connect_timeout: float, timeout: float, http2: bool = False,
                 paths: tuple[str, ...] = ("/chat/completions", "/completions", "/embeddings", "/responses"),
                 tracer: Tracer = NO_TRACING) -> None:
        self.base_url = base_url.rstrip("/")
        self._tracer = tracer
        self.http2 = http2
        # Parsing a URL is most of what building a request costs (~35 of ~50 µs): the cached endpoints'
        # URLs (`paths`) are parsed once.
        self._urls = {path: httpx.URL(self.base_url + path) for path in paths}
        # With http2, an https upstream that offers h2 in its TLS handshake (ALPN) multiplexes every request
        # on one connection; any other upstream, and every plain-http one, is spoken to in HTTP/1.1.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=256,
                                keepalive_expiry=KEEPALIVE_EXPIRY),
            follow_redirects=False,
            http2=http2,
        )
        # A request that met a stale pooled connection is sent again on a new one, which this client opens
        # (the pool may hold more stale ones) and closes after the answer.
        self._fresh = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=0),
            follow_redirects=False,
            http2=http2,
        )
        # httpx offers exactly the content-codings it can decode.
        self._decodable = {"identity", *(coding.strip() for coding in
                                         self._client.headers.get("accept-encoding", "").split(","))}

    @staticmethod
    def _headers(incoming: Iterable[tuple[bytes, bytes]], span: Span) -> list[tuple[bytes, bytes]]:
        """Raw header bytes, as the client sent them: a value in latin-1 must arrive unchanged, not fail. A traced
        call names its own span as the upstream request's parent instead of the client's."""
        context = span.headers()
        if not context:
            return [(name, value) for name, value in incoming if name.lower() not in _NOT_FORWARDED]
        return [*((name, value) for name, value in incoming
                  if name.lower() not in _NOT_FORWARDED and name.lower() not in _TRACE_CONTEXT), *context]

    async def send(self, method: str, path: str, *, query: str = "", headers: Iterable[tuple[bytes, bytes]] = (),
                   content: bytes | AsyncIterator[bytes] | None = None, content_length: int | None = None,
                   timeout: float | None = None) -> UpstreamResponse:
        """Send `method path` (relative to the base URL, e.g. `/chat/completions`); headers arrive, the
        body is left to `read()` or `stream()`. A streamed `content` of a known `content_length` goes with that
        length, not chunked: simple upstreams read a chunked body as empty. `timeout` replaces the client's."""
        url = self._urls.get(path) if not query else None
        if url is None:
            url = httpx.URL(self.base_url + path + (f"?{query}" if query else ""))
        span = self._tracer.client(f"{method} upstream")
        if self._tracer.on:
            span.set("http.request.method", method)
            span.set("server.address", url.host)
            span.set("url.path", url.path)  # not its query, which may hold a key
        sent = self._headers(headers, span)
        if content_length is not None and content is not None and not isinstance(content, bytes):
            sent.append((b"content-length", str(content_length).encode()))
        request = self._client.build_request(method, url, headers=sent, content=content,
                                             timeout=httpx.Timeout(timeout) if timeout is not None
                                             else httpx.USE_CLIENT_DEFAULT)
        sent_at = time.monotonic()
        try:
            response = await self._exchange(request, replayable=isinstance(content, bytes | None))
        except httpx.HTTPError as error:
            mapped = _mapped(error)
            span.fail(type(mapped).__name__)
            span.end()
            raise mapped from error
        except BaseException:
            span.end()
            raise
        span.set("http.response.status_code", response.status_code)
        returned = [(name, value) for name, value in response.headers.multi_items()
                    if name.lower() not in _NOT_RETURNED]
        return UpstreamResponse(response.status_code, returned, self._undecodable(response), response, span,
                                sent_at)

    async def _exchange(self, request: httpx.Request, *, replayable: bool) -> httpx.Response:
        """The response's head. A failure before it arrived, soon enough that the upstream cannot have worked on
        the request, is a stale pooled connection: a body that can be sent again (not a streamed one, partly
        consumed by now) is, once, on a new connection."""
        sent_at = time.monotonic()
        try:
            return await self._client.send(request, stream=True)
        except _STALE_FAILURES:
            if not replayable or time.monotonic() - sent_at > _STALE_FAILURE_WITHIN:
                raise
        return await self._fresh.send(request, stream=True)

    def _undecodable(self, response: httpx.Response) -> str | None:
        codings = response.headers.get_list("content-encoding", split_commas=True)
        if all(coding.strip().lower() in self._decodable for coding in codings):
            return None
        return ", ".join(codings)

    async def close(self) -> None:
        await self._client.aclose()
        await self._fresh.aclose()

    def health(self) -> dict[str, Any]:
        # /healthz needs no key: a password in the URL (httpx sends it as Basic auth) or a key in its query stays here.
        shown = httpx.URL(self.base_url).copy_with(userinfo=b"", query=None)
        return {"base_url": str(shown), "open": not self._client.is_closed, "http2": self.http2}
