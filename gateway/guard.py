"""A breaker around each cache dependency: a failure turns it off for `retry_secs` (requests bypass it at
no cost instead of each waiting for a timeout), one warning per outage, one info line on recovery."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.errors import CacheUnavailable, NotEmbeddable

T = TypeVar("T")
log = logging.getLogger("latency_slayer.cache")


class OutageGuard:
    def __init__(self, name: str, retry_secs: float, *, error: type[CacheUnavailable] = CacheUnavailable) -> None:
        self.name = name
        self._error = error  # what the outage is called, for the one table of what a client is told of it
        self._retry_secs = retry_secs
        self._down_since: float | None = None
        self._next_try = 0.0
        self.failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` unless the dependency is resting after a failure; any error means bypass."""
        if self._down_since is not None and time.monotonic() < self._next_try:
            raise self._error(f"{self.name} is unavailable")
        try:
            result = await operation()
        except NotEmbeddable:
            raise  # this request's input, not the dependency: bypass it alone
        except Exception as error:  # a dependency's bug must bypass the cache, never fail the request
            self._failed(error)
            raise self._error(f"{self.name} failed: {error}") from error
        if self._down_since is not None:
            log.info("%s is back after %.1f s; caching resumes", self.name, time.monotonic() - self._down_since)
            self._down_since = None
        return result

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("%s failed (%s: %s); requests bypass the cache until it is back",
                        self.name, error.__class__.__name__, error)
        self._next_try = now + self._retry_secs
