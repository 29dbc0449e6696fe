"""What the gateway issues that a later request may name (what it served under a response id), written to the
store in batches: every note added while a write is under way goes in the next one, so under load many hits cost
one round trip. Names are content-addressed (a name always holds the same bytes), so a name written lately is not
written again: serving one answer often costs one write per half its lifetime. A note is on its way to the store as
soon as the request that added it has yielded once: before its client can have read what it names."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gateway.errors import CacheUnavailable

Write = Callable[[list[tuple[str, bytes]], int], Awaitable[None]]  # (items, ttl_ms); raises CacheUnavailable
REMEMBERED = 65_536  # names known to be written lately: bounded, whatever the traffic


class Notes:
    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: dict[int, dict[str, bytes]] = {}  # ttl_ms -> name -> value
        self._written: OrderedDict[str, float] = OrderedDict()  # name -> when it is worth writing again
        self._writer: asyncio.Task[None] | None = None

    def add(self, items: list[tuple[str, bytes]], *, ttl_ms: int) -> None:
        now = time.monotonic()
        fresh = [(name, value) for name, value in items if self._written.get(name, 0.0) <= now]
        if not fresh:
            return
        self._pending.setdefault(ttl_ms, {}).update(fresh)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batches, self._pending = self._pending, {}
            for ttl_ms, items in batches.items():
                # The guard has logged an outage once; a name not kept is unknown later, as upstream.
                with contextlib.suppress(CacheUnavailable):
                    await self._write(list(items.items()), ttl_ms)
                    self._remember(items, time.monotonic() + ttl_ms / 2000)

    def _remember(self, names: dict[str, bytes], until: float) -> None:
        for name in names:
            self._written[name] = until
            self._written.move_to_end(name)
        while len(self._written) > REMEMBERED:
            self._written.popitem(last=False)

    async def drain(self) -> None:
        if self._writer is not None:
            await asyncio.wait([self._writer], timeout=5)
