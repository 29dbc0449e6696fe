"""The chat endpoint's side of single-flight: which misses share an upstream call, how a streamed answer is
read from upstream into its flight (by a task of its own, for every client following it), and the responses
of the flight's readers: the leader's client gets `x-cache: miss`, a follower `x-cache: hit` with
`x-cache-layer: flight` (it bought nothing upstream), byte for byte the leader's answer (not its account's headers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import Response

from gateway.errors import EventTooLong, FlightFailed, UpstreamError
from gateway.flight.flight import Flight, Head, Reader
from gateway.upstream import UpstreamResponse
from gateway.web import relay
from gateway.web.error_responses import error_body, failure
from gateway.web.request_parts import cache_headers
from gateway.web.trace import Trace
from gateway.wire import sse
from gateway.wire.canonical import ChatKey, digest
from gateway.wire.completion import CompletionAssembler

AFTER_DONE_SECS = 1.0


def flight_key(key: ChatKey, *, stream: bool, include_usage: bool) -> str:
    """Requests share a flight when they would share a cached answer (the exact key: scope, tenant and
    request) and would be sent the same bytes (streamed or not, with a usage chunk or not)."""
    return digest(key.exact.encode(), b"sse" if stream else b"json", b"usage" if include_usage else b"")


def stream_error(message: str, code: str, status: int) -> bytes:
    return b"data: " + error_body(message, status=status, code=code) + b"\n\n"


class _Body:
    """A reader as a response body, closed however the response ends (even before its first byte, when an
    async generator's clean-up would never run). It ends the trace, with the answer's final status and usage, as
    it hands over the last chunk: a client that hangs up once it has read `[DONE]` (synchronous SDK clients do,
    before the chunked terminator) got the whole answer, which is no error."""

    def __init__(self, reader: Reader, trace: Trace) -> None:
        self._reader = reader
        self._trace = trace
        self._broken = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._broken:
            raise StopAsyncIteration
        try:
            chunk = await self._reader.__anext__()
        except StopAsyncIteration:
            self._complete()
            raise
        except FlightFailed:
            self._reader.close()
            self._broken = True
            self._trace.status = 504
            return stream_error("The upstream answer stopped arriving.", "upstream_timeout", 504)
        if self._reader.finished:
            self._complete()
        return chunk

    def _complete(self) -> None:
        flight = self._reader.flight
        self._trace.status = flight.status
        self._trace.usage(flight.usage)
        self._trace.end_stream(flight.status)
        self._reader.close()

    async def aclose(self) -> None:
        self._reader.close()


def read_along(head: Head, reader: Reader, trace: Trace, headers: dict[str, str]) -> Response:
    """A streamed response that follows the flight as `reader`."""
    return relay.shared(head, trace.relayed(_Body(reader, trace)), headers)  # type: ignore[arg-type]


async def follow(flight: Flight, trace: Trace, *, stream: bool, timeout: float) -> Response | None:
    """The flight's answer for a follower, or None when it failed before anything was relayed: the
    follower then goes upstream itself."""
    reader = flight.join(timeout)
    try:
        head = await reader.head()
        body = None if stream else await reader.whole()
    except FlightFailed:
        reader.close()
        return None
    except BaseException:
        reader.close()
        raise
    head, headers = head.for_followers(), cache_headers("hit", layer="flight")
    if body is None:
        trace.hit("flight", None)  # the usage is known at the end
        return read_along(head, reader, trace, headers)
    reader.close()
    trace.hit("flight", flight.usage)
    return relay.whole(head, body, headers)


async def pump(upstream: UpstreamResponse, flight: Flight, store: Callable[[dict[str, Any] | None], None], *,
               drop_usage: bool) -> None:
    """Publish each SSE event of a streamed answer as soon as it is complete; store the answer only once
    `[DONE]` ends a clean stream (before publishing it, so the answer is in the cache by the time a client
    has read it). Cancelled when every reader left: the upstream request is closed and nothing stored."""
    parser = sse.SSEParser()
    assembler = CompletionAssembler()
    status = 200
    body = upstream.decoded()
    try:
        async for chunk in body:
            try:
                events = parser.feed(chunk)
            except EventTooLong as error:
                flight.publish(stream_error(str(error), "upstream_protocol_error", 502))
                flight.end(status=502)
                return
            for event in events:
                if event.data == "[DONE]":
                    completion = assembler.result()
                    store(completion)
                    flight.publish(event.raw)
                    # The answer is whole: its readers finish now, not when the upstream gets round to closing.
                    flight.end(usage=completion.get("usage") if completion is not None else None)
                    await _read_out(body)
                    return
                if not event.data:
                    flight.publish(event.raw)  # comments and keep-alives
                    continue
                try:
                    payload = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    flight.publish(stream_error("The upstream API sent an event that is not valid JSON.",
                                                "upstream_protocol_error", 502))
                    flight.end(status=502)
                    return
                if isinstance(payload, dict):
                    assembler.feed(payload)
                    if drop_usage and payload.get("choices") == [] and payload.get("usage") is not None:
                        continue  # usage was asked for the cache, not by the client
                flight.publish(event.raw)
    except UpstreamError as error:
        status, code = failure(error)
        flight.publish(stream_error(f"The upstream stream broke off: {error}", code, status))
    finally:
        await upstream.close()
    completion = assembler.result()
    flight.end(status=status, usage=completion.get("usage") if completion is not None else None)


async def _read_out(body: AsyncIterator[bytes]) -> None:
    """Read what follows `[DONE]` (the chunked terminator, normally already here), so the upstream connection
    goes back to the pool instead of being closed; an upstream that keeps the stream open is cut off."""
    with contextlib.suppress(TimeoutError, UpstreamError):
        async with asyncio.timeout(AFTER_DONE_SECS):
            async for _ in body:
                pass
