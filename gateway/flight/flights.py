"""Who goes upstream for a cacheable miss: the first request for its key in this worker, and with Redis the
first in the fleet. Redis is only ever a help: when it fails, this worker's requests still share their
flights among themselves, as without Redis."""

from __future__ import annotations

from typing import Protocol

from gateway.errors import CacheUnavailable
from gateway.flight.flight import Flight, LocalFlights, Mirror
from gateway.guard import OutageGuard


class RemoteFlights(Protocol):
    """Flights shared with other workers (through Redis): an election per key, and a way to publish or follow."""

    async def claim(self, key: str) -> tuple[str, bool]: ...
    def mirror(self, key: str, ident: str) -> Mirror: ...
    async def follow(self, key: str, ident: str, flight: Flight) -> None: ...
    async def close(self) -> None: ...


class Flights:
    def __init__(self, local: LocalFlights, *, timeout: float, remote: RemoteFlights | None = None,
                 retry_secs: float = 1.0) -> None:
        self.local = local
        self.timeout = timeout  # the upstream's: no follower waits longer for progress
        self._remote = remote
        self._guard = OutageGuard("single-flight through Redis", retry_secs)

    def private(self) -> Flight:
        return self.local.private()

    async def join(self, key: str) -> tuple[Flight, bool]:
        """The flight for `key` and whether the caller leads it (goes upstream and publishes to it)."""
        flight, leading = self.local.join(key)
        if not leading or self._remote is None:
            return flight, leading
        remote = self._remote
        try:
            ident, ours = await self._guard.call(lambda: remote.claim(key))
        except CacheUnavailable:
            return flight, True  # this worker's followers still share it
        except BaseException:
            flight.fail()  # cancelled while electing: whoever joined meanwhile must not wait for it
            raise
        if ours:
            flight.mirror = remote.mirror(key, ident)
            return flight, True
        flight.feed(remote.follow(key, ident, flight))
        return flight, False

    async def close(self) -> None:
        await self.local.close()
        if self._remote is not None:
            await self._remote.close()
