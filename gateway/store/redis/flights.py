"""Single-flight across workers and replicas, through Redis. `SET <prefix>flight:{<key>} <id> NX GET PX <ttl>`
elects one leader for the whole fleet (and tells the others its id); the leader appends its answer to the
Redis Stream `<prefix>flight:{<key>}:<id>` (the head, the body's chunks, then an end or fail marker), which the
first request for that key in each other worker reads with `XREAD BLOCK` and publishes to its local flight.

The leader writes from a task of its own, a pipeline per batch, so its client never waits on Redis. Its election
is a lease that task renews every second: a leader whose worker died or hangs loses it within `LEASE_MS`, and its
followers, finding the lease gone and no end in the stream, go upstream themselves. The leader gives the lease up
in the same transaction as it writes its end. Through a Redis stall, the leader's writer and its followers retry for
as long as the lease lasts. The stream lives no longer than the upstream's timeout past the last
thing written, and a few seconds past the end, so a follower that came late still reads it whole."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import orjson

from gateway.flight.flight import Flight, Head, LocalFlights
from gateway.store.redis.connection import FAILURES, pool

log = logging.getLogger("latency_slayer.flight")

BLOCK_MS = 1000  # one XREAD waits at most this long, so a follower notices a lost lease or its deadline
LEASE_MS = 3000  # a leader that stops renewing its election (every RENEW_SECS) loses it after this long
RENEW_SECS = 1.0
RETRY_SECS = 0.1  # while Redis fails, the leader sends again and a follower reads again this often
END_GRACE_MS = 10_000  # a finished answer's stream stays this long for followers still reading it
READ_COUNT = 512
POOL_SIZE = 16  # connections for elections and publishing, per worker
READERS = 64  # flights of other workers this worker can follow at once; more wait, then go upstream

# Release the election only if it is still ours: after an expiry another leader may hold it.
class _Stall:
    """Redis failing for a while (a fork, a failover) must not cut followers off: both sides retry until it has
    failed for as long as a lease lasts, then give up."""

    def __init__(self, doing: str) -> None:
        self.doing = doing
        self.since: float | None = None

    def hopeless(self, error: Exception) -> bool:
        """Count one failure; True once Redis has failed for the length of a lease."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
            log.warning("single-flight: %s Redis failed (%s); retrying", self.doing, error)
        if now - self.since < LEASE_MS / 1000:
            return False
        log.warning("single-flight: %s Redis failed for %.1f s; given up", self.doing, LEASE_MS / 1000)
        return True


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisFlights:
    def __init__(self, url: str, *, prefix: str, timeout_ms: int, ttl_secs: float, tasks: LocalFlights,
                 max_chunk_bytes: int = 1 << 20) -> None:
        seconds = timeout_ms / 1000
        # Bounded pools: a burst of misses waits briefly for a connection (each is held ~0.1 ms) rather
        # than opening one per request next to the store's own. Blocking reads get theirs, with a timeout
        # beyond their BLOCK.
        self._redis = pool(url, POOL_SIZE, timeout=seconds, connect_timeout=seconds)
        self._reader = pool(url, READERS, timeout=BLOCK_MS / 1000 + seconds, connect_timeout=seconds)
        self._prefix = f"{prefix}flight:"
        self._ttl_ms = max(int(ttl_secs * 1000), 1)
        self._tasks = tasks
        # A whole answer is one chunk: one too big to cache is not written to Redis either, where one caller's
        # huge answers would hold up every other caller's commands. Followers elsewhere then go upstream.
        self.max_chunk_bytes = max_chunk_bytes

    async def claim(self, key: str) -> tuple[str, bool]:
        """Stand for leader of `key` fleet-wide: (the leader's id, whether it is ours). Raises any of `FAILURES`."""
        ident = secrets.token_hex(8)
        held = await self._redis.set(_lock(self._prefix, key), ident, nx=True, px=LEASE_MS, get=True)
        return (ident, True) if held is None else (held.decode(), False)

    def mirror(self, key: str, ident: str) -> RedisMirror:
        return RedisMirror(self, key, ident)

    async def follow(self, key: str, ident: str, flight: Flight) -> None:
        """Publish the leader's answer to `flight` as it arrives. Returning without ending it fails it: the
        leader failed, Redis did, or nothing arrived within the upstream's timeout."""
        stream = f"{_lock(self._prefix, key)}:{ident}"
        deadline = time.monotonic() + self._ttl_ms / 1000
        try:  # counted, so the leader's worker goes on when its own clients leave
            async with self._redis.pipeline(transaction=False) as pipe:
                await pipe.incr(f"{stream}:n").pexpire(f"{stream}:n", self._ttl_ms).execute()
        except FAILURES as error:
            log.warning("single-flight: following through Redis failed (%s); its followers go upstream", error)
            return
        try:
            await self._read(key, ident, stream, flight, deadline)
        finally:  # no longer counted: a leader whose own clients leave now closes its upstream request
            await self._stop_counting(stream)

    async def _read(self, key: str, ident: str, stream: str, flight: Flight, deadline: float) -> None:
        last = b"0-0"
        stall = _Stall("reading from")
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await self._reader.xread({stream: last}, count=READ_COUNT,
                                                 block=max(1, min(BLOCK_MS, int(left * 1000))))
                if not reply and await self._redis.get(_lock(self._prefix, key)) != ident.encode():
                    # The lease is gone: given up with the end (read now), or lost by a leader that died.
                    reply = await self._reader.xread({stream: last}, count=READ_COUNT)
                    if not reply or not _publish(reply[0][1], flight):
                        log.info("a single-flight leader in another worker is gone; its followers go upstream")
                    return
            except FAILURES as error:
                if stall.hopeless(error):
                    return  # its followers go upstream
                await asyncio.sleep(RETRY_SECS)
                continue
            stall.since = None
            if reply:
                last, deadline = reply[0][1][-1][0], time.monotonic() + self._ttl_ms / 1000
                if _publish(reply[0][1], flight):
                    return
        log.info("no progress from a single-flight leader within %.1f s; its followers go upstream",
                 self._ttl_ms / 1000)

    async def _stop_counting(self, stream: str) -> None:
        try:  # the count keeps its expiry: a decrement alone would leave a key that never expires
            async with self._redis.pipeline(transaction=False) as pipe:
                await pipe.decr(f"{stream}:n").pexpire(f"{stream}:n", self._ttl_ms).execute()
        except FAILURES as error:
            log.info("single-flight: a follower could not say it left (%s); the leader reads to the end", error)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._reader.aclose()


def _lock(prefix: str, key: str) -> str:
    """A flight's election; its stream and follower count add to the name. The key is a hash tag, so on a Redis
    Cluster all three share a slot and the end's transaction is possible."""
    return f"{prefix}{{{key}}}"


def _publish(entries: list[tuple[bytes, dict[bytes, bytes]]], flight: Flight) -> bool:
    """Publish stream entries to the local flight; True once the leader's end (or failure) was among them."""
    for _, fields in entries:
        if b"c" in fields:
            flight.publish(fields[b"c"])
        elif b"h" in fields:
            status, headers = orjson.loads(fields[b"h"])
            flight.start(Head(status, [(name, value) for name, value in headers]))
        elif fields.get(b"e") == b"done":
            flight.end(status=int(fields[b"s"]), usage=orjson.loads(fields[b"u"]))
            return True
        else:
            return True  # the leader failed: so does this flight
    return False


class RedisMirror:
    """A leader's flight as published to its stream, by a writer task of its own."""

    def __init__(self, flights: RedisFlights, key: str, ident: str) -> None:
        self._flights = flights
        self._lock = _lock(flights._prefix, key)
        self._stream = f"{self._lock}:{ident}"
        self._ident = ident
        self._pending: list[dict[str, bytes | str]] = []
        self._wake = asyncio.Event()
        self._last = False
        self._written = 0  # entries given an id (their place in the stream) so far
        flights._tasks.spawn(self._write())  # renews the lease from now on, before there is anything to write

    def _add(self, fields: dict[str, bytes | str], *, last: bool = False) -> None:
        if self._last:
            return  # ended, or given up on
        self._pending.append(fields)
        self._last = self._last or last
        self._wake.set()

    def head(self, head: Head) -> None:
        head = head.for_followers()  # the leader's account headers stay out of Redis
        self._add({"h": orjson.dumps([head.status, head.headers])})

    def chunk(self, data: bytes) -> None:
        if len(data) > self._flights.max_chunk_bytes:
            self.fail()
        else:
            self._add({"c": data})

    def end(self, status: int, usage: Any) -> None:
        self._add({"e": "done", "s": str(status), "u": orjson.dumps(usage)}, last=True)

    def fail(self) -> None:
        self._add({"e": "fail"}, last=True)

    async def followed(self) -> bool:
        try:
            return int(await self._flights._redis.get(f"{self._stream}:n") or 0) > 0
        except FAILURES:
            return False

    async def _write(self) -> None:
        batch: list[tuple[str, dict[str, bytes | str]]] = []
        stall = _Stall("publishing to")
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RENEW_SECS if stall.since is None else RETRY_SECS):
                    await self._wake.wait()
            self._wake.clear()
            for fields in self._pending:
                self._written += 1
                batch.append((f"0-{self._written}", fields))
            self._pending, last = [], self._last
            try:
                await self._send(batch, last)
            except FAILURES as error:
                if stall.hopeless(error):
                    return
                continue  # the batch is kept and sent again, renewing the lease
            batch, stall.since = [], None
            if last:
                return

    async def _send(self, batch: list[tuple[str, dict[str, bytes | str]]], last: bool) -> None:
        # The end and the lease's release in one transaction: a follower that finds the lease gone finds the
        # end too, and one that stands for leader after reading the end finds it free.
        async with self._flights._redis.pipeline(transaction=last) as pipe:
            if last:
                pipe.eval(_RELEASE, 1, self._lock, self._ident)
            for entry_id, fields in batch:
                pipe.xadd(self._stream, fields, id=entry_id)  # type: ignore[arg-type]
            pipe.pexpire(self._stream, END_GRACE_MS if last else self._flights._ttl_ms)
            if not last:
                pipe.pexpire(self._lock, LEASE_MS)
            replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            # An entry's id is its place in the answer: one that a timed-out attempt did write is refused
            # when sent again, rather than appended twice.
            if isinstance(reply, Exception) and "equal or smaller" not in str(reply):
                raise reply
