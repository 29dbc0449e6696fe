"""A streamed miss on its way: read from upstream by a task of its own (the flight's producer), each event
published to the flight as soon as it is complete, for every client following it. The answer is settled
(judged, stored) when its wire format says it ended cleanly, before that last event is published, so it is in
the cache by the time a client has read it. Cancelled when every reader left: the upstream request is closed
and nothing is stored."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from gateway.errors import GatewayError, UpstreamError, UpstreamProtocolError
from gateway.flight.flight import Flight
from gateway.wire import sse

AFTER_END_SECS = 1.0


class StreamAnswer(Protocol):
    """A wire format's reading of a streamed answer, event by event."""

    ended: bool  # the event just taken was the answer's last

    def take(self, event: sse.Event) -> bool:
        """Read one event; whether the client is sent it. Raises UpstreamProtocolError."""
        ...

    def result(self) -> dict[str, Any] | None:
        """The whole answer, or None while (or if) it is not."""
        ...

    def error(self, message: str, *, status: int, code: str) -> bytes:
        """An error event, for a stream that broke off."""
        ...


class UpstreamBody(Protocol):
    def decoded(self) -> AsyncIterator[bytes]: ...
    async def close(self) -> None: ...


Settle = Callable[[dict[str, Any] | None], None]
Failure = Callable[[GatewayError], tuple[int, str]]  # the status and code a client gets for an error


def _usage(answer: dict[str, Any] | None) -> Any:
    return answer.get("usage") if answer is not None else None


async def capture(upstream: UpstreamBody, flight: Flight, answer: StreamAnswer, settle: Settle,
                  failure: Failure) -> None:
    parser = sse.SSEParser()
    body = upstream.decoded()
    try:
        async for chunk in body:
            try:
                ended = _publish(parser.feed(chunk), flight, answer, settle)
            except UpstreamProtocolError as error:  # what it sent cannot be read: nothing after it can be either
                _break_off(flight, answer, failure, error, str(error), usage=None)
                return
            if ended:
                await _read_out(body)
                return
    except UpstreamError as error:
        _break_off(flight, answer, failure, error, f"The upstream stream broke off: {error}",
                   usage=_usage(answer.result()))
        return
    finally:
        await upstream.close()
    flight.end(usage=_usage(answer.result()))


def _publish(events: list[sse.Event], flight: Flight, answer: StreamAnswer, settle: Settle) -> bool:
    """Publish what the client is sent of `events`; whether the answer ended with them."""
    for event in events:
        relayed = answer.take(event)
        if answer.ended:
            whole = answer.result()
            settle(whole)
            flight.publish(event.raw)
            # The answer is whole: its readers finish now, not when the upstream gets round to closing.
            flight.end(usage=_usage(whole))
            return True
        if relayed:
            flight.publish(event.raw)
    return False


def _break_off(flight: Flight, answer: StreamAnswer, failure: Failure, error: GatewayError, message: str, *,
               usage: Any) -> None:
    status, code = failure(error)
    flight.publish(answer.error(message, status=status, code=code))
    flight.end(status=status, usage=usage)


async def _read_out(body: AsyncIterator[bytes]) -> None:
    """Read what follows the last event (the chunked terminator, normally already here), so the upstream
    connection goes back to the pool instead of being closed; an upstream that keeps the stream open is cut off."""
    with contextlib.suppress(TimeoutError, UpstreamError):
        async with asyncio.timeout(AFTER_END_SECS):
            async for _ in body:
                pass
