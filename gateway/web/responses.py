"""The gateway's response types, in the manner of Starlette's `responses.py`: JSON, an error in OpenAI's shape, a
cached answer as a server-sent event stream, and an upstream answer relayed whole, as it arrives, or from a
single-flight. Each relayed body is closed however its response ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import anyio
import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.errors import FlightFailed
from gateway.flight.flight import Reader
from gateway.upstream import UpstreamResponse
from gateway.web.failures import failure
from gateway.wire.errors import OPENAI_ERRORS, ErrorShape


class Answer(Protocol):
    """The start of an upstream answer: an UpstreamResponse, or the head a single-flight shares."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> list[tuple[str, str]]: ...


class JSONResponse(Response):
    """A JSON value, or bytes that already are one (a cached answer, rendered by its wire format)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class ErrorResponse(Response):
    """An error in OpenAI's shape (or another API's, `errors`), so the SDKs raise their usual exception classes."""

    media_type = "application/json"

    def __init__(self, message: str, *, status: int, param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None, errors: ErrorShape = OPENAI_ERRORS) -> None:
        super().__init__(errors.body(message, status=status, param=param, code=code), status_code=status,
                         headers=headers)


class EventStreamResponse(Response):
    """A whole stream of server-sent events, sent at once (a cached answer replayed)."""

    media_type = "text/event-stream"

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(body, headers={**headers, "cache-control": "no-cache"})


def _raw(headers: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    return raw


class RelayedResponse(Response):
    """An upstream answer (or a single-flight's copy of one), whole: its status and headers (hop-by-hop ones
    already filtered by the upstream client), its body, and the gateway's headers."""

    def __init__(self, head: Answer, body: bytes, extra: Mapping[str, str]) -> None:
        super().__init__(body, status_code=head.status)
        self.raw_headers = [*_raw(head.headers, extra), (b"content-length", str(len(body)).encode())]


class _AlwaysClosed(StreamingResponse):
    """A streamed body that is always closed: a client that leaves before the first byte cancels the response
    before the body is ever iterated, so a body's own clean-up would never run."""

    def __init__(self, head: Answer, body: AsyncIterator[bytes], extra: Mapping[str, str]) -> None:
        super().__init__(body, status_code=head.status)
        self.raw_headers = _raw(head.headers, extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.close()

    async def close(self) -> None:
        raise NotImplementedError


class RelayedStream(_AlwaysClosed):
    """An upstream answer relayed as it arrives. `body` defaults to the upstream's as it came, in its
    content-encoding when the gateway cannot decode it."""

    def __init__(self, upstream: UpstreamResponse, extra: Mapping[str, str], *,
                 body: AsyncIterator[bytes] | None = None) -> None:
        super().__init__(upstream, upstream.stream() if body is None else body, extra)
        self._upstream = upstream
        if upstream.undecodable is not None:
            self.raw_headers.append((b"content-encoding", upstream.undecodable.encode("latin-1")))

    @classmethod
    def overflowing(cls, upstream: UpstreamResponse, first: bytes, rest: AsyncIterator[bytes],
                    extra: Mapping[str, str]) -> RelayedStream:
        """An answer found too big to hold as it was read: what came so far, then the rest as it comes."""

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in rest:
                yield chunk

        return cls(upstream, extra, body=body())

    async def close(self) -> None:
        close = getattr(self.body_iterator, "aclose", None)
        if close is not None:
            await close()
        await self._upstream.close()


# Told how the answer ended, just before its last bytes are handed on: its final status and usage, or None when
# it did not end whole (its client left first).
Ended = Callable[[int | None, Any], None]


class FlightStream(_AlwaysClosed):
    """A single-flight's answer as it arrives, for one of its readers (the flight owns the upstream request). It
    ends with the answer's last chunk, so a client that hangs up once it has read that (synchronous SDK clients
    do, before the chunked terminator) got the whole answer; one that stops arriving ends with an error event in
    its API's shape (`errors`)."""

    def __init__(self, head: Answer, reader: Reader, extra: Mapping[str, str], *, ended: Ended,
                 errors: ErrorShape = OPENAI_ERRORS) -> None:
        super().__init__(head, reader, extra)
        self._reader = reader
        self._ended = ended
        self._told = False
        self._errors = errors

    def _end(self, status: int | None, usage: Any) -> None:
        if not self._told:
            self._told = True
            self._ended(status, usage)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        reader, flight = self._reader, self._reader.flight
        try:
            async for chunk in reader:
                last = reader.finished
                if last:
                    self._end(flight.status, flight.usage)
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                if last:
                    return
        except FlightFailed as error:
            reader.close()  # at once: if it was the flight's last reader, the upstream request is closed now
            status, code = failure(error)
            self._end(status, None)
            stalled = self._errors.event("The upstream answer stopped arriving.", status=status, code=code)
            await send({"type": "http.response.body", "body": stalled, "more_body": False})
            return
        self._end(flight.status, flight.usage)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def close(self) -> None:
        self._reader.close()
        self._end(None, None)
