"""Single-flight inside one worker. The first request for an answer leads: it goes upstream, and its answer
(status and headers, then the body as it arrives) is published to a `Flight`. Every identical request that
arrives meanwhile follows: it replays what arrived so far, then follows live.

A flight never hangs on the leader's client: a streamed answer is read from upstream by a task of its own,
which every reader (the leader's client too) follows, and which is cancelled, closing the upstream request,
only when the last reader has left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import FlightFailed
from gateway.tasks import Background

log = logging.getLogger("latency_slayer.flight")

OPEN, DONE, FAILED = "open", "done", "failed"
FOLLOWED_SECS = 1.0  # how often a flight nobody here reads asks whether anybody elsewhere still follows it


# A follower gets the answer, not the leader's account: OpenAI's other response headers belong to whoever paid for
# the call (organization, project, rate limits, request id, cookies), and on a shared route that is another tenant.
FOLLOWER_HEADERS = frozenset({"content-type", "cache-control"})


@dataclass(frozen=True)
class Head:
    """What an answer starts with: the upstream's status and the headers that may be returned."""

    status: int
    headers: list[tuple[str, str]]

    def for_followers(self) -> Head:
        return Head(self.status, [(name, value) for name, value in self.headers if name.lower() in FOLLOWER_HEADERS])


class Mirror(Protocol):
    """Somewhere a flight is also published to, for followers in other workers."""

    def head(self, head: Head) -> None: ...
    def chunk(self, data: bytes) -> None: ...
    def end(self, status: int, usage: Any) -> None: ...
    def fail(self) -> None: ...
    async def followed(self) -> bool:
        """Whether anybody elsewhere follows it now (then it goes on when this worker's readers have left)."""
        ...


class Flight:
    """One upstream answer on its way. Producer side: `start`, `publish`, then `end` or `fail`, or `feed`
    to run the producer as a task. Reader side: `join`."""

    def __init__(self, flights: LocalFlights, key: str | None) -> None:
        self.key = key
        self.head: Head | None = None
        self.chunks: list[bytes] = []
        self.status = 200  # a stream may break after its 200 went out
        self.usage: Any = None
        self.state = OPEN
        self.mirror: Mirror | None = None
        self._flights = flights
        self._changed = asyncio.Event()
        self._feeder: asyncio.Task[None] | None = None
        self._readers = 0

    @property
    def settled(self) -> bool:
        return self.state != OPEN

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def start(self, head: Head) -> None:
        self.head = head
        if self.mirror is not None:
            self.mirror.head(head)
        self._notify()

    def publish(self, data: bytes) -> None:
        self.chunks.append(data)
        if self.mirror is not None:
            self.mirror.chunk(data)
        self._notify()

    def end(self, *, status: int = 200, usage: Any = None) -> None:
        if self.settled:
            return
        self.state, self.status, self.usage = DONE, status, usage
        if self.mirror is not None:
            self.mirror.end(status, usage)
        self._settle()

    def fail(self) -> None:
        if self.settled:
            return
        self.state = FAILED
        if self.mirror is not None:
            self.mirror.fail()
        self._settle()
        if self._feeder is not None and self._feeder is not asyncio.current_task():
            self._feeder.cancel()

    def _settle(self) -> None:
        self._flights.discard(self)  # from now on, an identical request looks up the cache or leads anew
        self._notify()

    def feed(self, producer: Coroutine[Any, Any, None]) -> None:
        """Produce the answer in a task of its own, which outlives the request that started it for as long
        as somebody reads; a producer that returns without `end` shares nothing."""
        self._feeder = self._flights.spawn(self._produce(producer))

    async def _produce(self, producer: Coroutine[Any, Any, None]) -> None:
        try:
            await producer
        except asyncio.CancelledError:
            pass  # its readers all left
        except Exception:
            log.exception("a single-flight producer failed")
        finally:
            self.fail()

    def join(self, timeout: float) -> Reader:
        return Reader(self, timeout)

    def _leave(self) -> None:
        self._readers -= 1
        if self._readers == 0 and self._feeder is not None and not self.settled:
            if self.mirror is None:
                self._cancel()
            else:
                self._flights.spawn(self._abandon(self.mirror))

    async def _abandon(self, mirror: Mirror) -> None:
        """With no reader left here, read on while somebody elsewhere follows, asking again every
        `FOLLOWED_SECS`: once they have left too, the upstream request is closed."""
        while self._readers == 0 and self._feeder is not None and not self.settled:
            if not await mirror.followed():
                if self._readers == 0 and not self.settled:
                    self._cancel()
                return
            await asyncio.sleep(FOLLOWED_SECS)

    def _cancel(self) -> None:
        """Nobody reads what it fetches any more: close the upstream request. Unjoinable first, as the
        producer settles only once the upstream closed, and a request arriving meanwhile must lead anew."""
        self._flights.discard(self)
        if self._feeder is not None:
            self._feeder.cancel()

    async def _changed_within(self, timeout: float) -> None:
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            raise FlightFailed(f"nothing arrived within {timeout} s") from None


class Reader:
    """One request's place in a flight, counted from the moment it joins until it is closed. Also a
    response body: the chunks it has not relayed yet, the backlog as one."""

    def __init__(self, flight: Flight, timeout: float) -> None:
        self.flight = flight
        self.sent = 0
        self._timeout = timeout
        self._open = True
        flight._readers += 1

    async def head(self) -> Head:
        flight = self.flight
        while flight.state != FAILED:  # failed even after its head arrived: nothing relayed yet, so go upstream
            if flight.head is not None:
                return flight.head
            await flight._changed_within(self._timeout)
        raise FlightFailed("the leader failed")

    async def whole(self) -> bytes:
        flight = self.flight
        while flight.state == OPEN:
            await flight._changed_within(self._timeout)
        if flight.state == FAILED:
            raise FlightFailed("the leader failed")
        return b"".join(flight.chunks)

    @property
    def finished(self) -> bool:
        """Whether the whole answer has been read: nothing is left to relay."""
        return self.flight.state == DONE and self.sent >= len(self.flight.chunks)

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> bytes:
        flight = self.flight
        while self.sent >= len(flight.chunks):
            if flight.state == DONE:
                raise StopAsyncIteration
            if flight.state == FAILED:
                raise FlightFailed("the answer broke off")
            await flight._changed_within(self._timeout)
        backlog = flight.chunks[self.sent:]
        self.sent += len(backlog)
        return backlog[0] if len(backlog) == 1 else b"".join(backlog)

    def close(self) -> None:
        if self._open:
            self._open = False
            self.flight._leave()


class LocalFlights:
    """The flights of this worker on their way, by key; `private()` is a flight nobody else can join."""

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._tasks = Background()

    def join(self, key: str) -> tuple[Flight, bool]:
        """The flight for `key`, and whether the caller leads it (it was not on its way yet)."""
        flight = self._flights.get(key)
        if flight is not None:
            return flight, False
        flight = self._flights[key] = Flight(self, key)
        return flight, True

    def private(self) -> Flight:
        return Flight(self, None)

    def discard(self, flight: Flight) -> None:
        if flight.key is not None and self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._tasks.spawn(coroutine)

    async def close(self) -> None:
        await self._tasks.cancel()
