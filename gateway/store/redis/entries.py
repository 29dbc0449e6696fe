"""What both Redis 8 stores share: the connections, entries as hashes `<prefix><exact digest>` whose `resp` field
alone carries a TTL (HSETEX/HGETEX), blobs, ask counters, the fingerprint of what built the vectors, and the meta key
that names it. Where the vectors live (a Query Engine index or vector sets) is each subclass's job.

The guard against mixing embedders lives where the vectors do: the index attribute or the vector sets' names carry
the fingerprint of embedder, dimension and vector type, so vectors of another embedder are never searched even when
the meta key is evicted (`allkeys-lru`) or deleted. The meta key only makes the start-up refusal name the embedder;
each start restores it when what Redis holds proves the cache was ours."""

from __future__ import annotations

import hashlib
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from gateway.errors import StoreError
from gateway.store.base import Entry, Found, Freshness, Stale, Store, Tags
from gateway.store.redis.connection import FAILURES, client, host_of
from gateway.store.redis.incidents import Incidents

# One round trip for a read that renews the answer for the TTL it was written with (kept in `ttl_ms`),
# so a hit never stretches a short-lived answer to the default lifetime; its stale copy (kept `stale_ms` longer,
# for stale-while-revalidate) is renewed with it. With the answer, what wrote it (`origin`, absent: a client).
_READ_ANSWER = """
local ttl, grace, origin = unpack(redis.call('HMGET', KEYS[1], 'ttl_ms', 'stale_ms', 'origin'))
local answer
if ARGV[1] == '1' and ttl then
  answer = redis.call('HGETEX', KEYS[1], 'PX', ttl, 'FIELDS', 1, 'resp')[1]
  if answer and grace and grace ~= '0' then
    redis.call('HPEXPIRE', KEYS[1], ttl + grace, 'FIELDS', 1, 'stale')
  end
else
  answer = redis.call('HGET', KEYS[1], 'resp')
end
if not answer then return nil end
return {answer, origin or ''}
"""

# The stale copy of an expired answer, how long ago the answer expired (its copy outlives it by `stale_ms`) and how
# long ago it was written, by the server's clock; nil while the answer lives, or when it expired too long ago.
_READ_STALE = """
if redis.call('HEXISTS', KEYS[1], 'resp') == 1 then return nil end
local answer, grace, created, origin = unpack(redis.call('HMGET', KEYS[1], 'stale', 'stale_ms', 'created_at',
                                                        'origin'))
if not answer or not grace then return nil end
local ends = redis.call('HPEXPIRETIME', KEYS[1], 'FIELDS', 1, 'stale')[1]
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = now - (ends - tonumber(grace))
if ends < 0 or expired < 0 or expired >= tonumber(ARGV[1]) then return nil end
return {answer, expired, now - tonumber(created or 0) * 1000, origin or ''}
"""

# One more serve of a live answer, how long it has left and the lifetime it was written with.
_NOTE_HIT = """
local left = redis.call('HPTTL', KEYS[1], 'FIELDS', 1, 'resp')[1]
if left < 0 then return nil end
return {redis.call('HINCRBY', KEYS[1], 'hits', 1), left, tonumber(redis.call('HGET', KEYS[1], 'ttl_ms') or 0)}
"""

# How many graph candidates an HNSW search explores (both stores): Redis' default of 10 found only 76 % of the
# true nearest neighbours at 1M entries (bench/sizes.py); 200 costs a fraction of a millisecond more.
SEARCH_EF = 200
BULK_PAGE = 500  # entries per pipeline in write_many: big enough to amortise round trips, small enough not to stall
# A write may carry megabytes, or wait behind another that does: at the lookups' timeout it would fail and count as
# an outage. Writes get their own connections with at least this long a timeout, so a slow one neither fails nor
# keeps a lookup waiting for its connection.
WRITE_TIMEOUT_SECS = 2.0


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Any Redis failure (a cluster's own included) becomes a StoreError, which the policy turns into a bypass."""
    try:
        yield
    except FAILURES as error:
        raise StoreError(f"Redis {what} failed: {error}") from error


def fingerprint(embedder: str, dim: int, vector_type: str) -> str:
    """A short digest of what the vectors are, to name what holds them."""
    return hashlib.blake2b(orjson.dumps([embedder, dim, vector_type]), digest_size=6).hexdigest()


class RedisEntries(Store):
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int, vector_type: str,
                 stale_ms: int = 0) -> None:
        seconds = timeout_ms / 1000
        self._redis = client(url, timeout=seconds, connect_timeout=seconds, protocol=3)  # lookups, and nothing else
        self._writer = client(url, timeout=max(seconds, WRITE_TIMEOUT_SECS), connect_timeout=seconds, protocol=3)
        self._url_host = host_of(self._redis, url)
        # Commands about the server rather than a key go to every master of a cluster.
        self._on_masters = {"target_nodes": RedisCluster.PRIMARIES} if isinstance(self._redis, RedisCluster) else {}
        self._index = index
        self._prefix = prefix
        self._meta_key = f"{index}:meta"
        self._vector_type = vector_type
        self._dim = 0
        self._embedder = ""
        self._fingerprint = ""
        self._incidents = Incidents()
        self._read_script = self._redis.register_script(_READ_ANSWER)
        self._stale_script = self._redis.register_script(_READ_STALE)
        self._hit_script = self._writer.register_script(_NOTE_HIT)
        self._stale_ms = stale_ms  # how long an expired answer's copy is kept (the `stale` field), 0: none

    def _expect(self, dim: int, embedder: str) -> None:
        self._dim, self._embedder = dim, embedder
        self._fingerprint = fingerprint(embedder, dim, self._vector_type)

    # ---- what the cache was built for -------------------------------------------------------------------

    async def _read_meta(self) -> tuple[str, int, str] | None:
        """(embedder, dim, vector type) recorded by whoever built this cache, or None when there is no record."""
        meta = await self._redis.hgetall(self._meta_key)
        if not meta:
            return None
        # A cache built before the vector type was recorded is a float32 Query Engine index.
        return (meta.get(b"embedder", b"?").decode(), int(meta.get(b"dim", 0)),
                meta.get(b"vector_type", b"float32").decode())

    async def _write_meta(self) -> None:
        await self._writer.hset(self._meta_key, mapping={
            "embedder": self._embedder, "dim": self._dim, "vector_type": self._vector_type})

    def _conflict(self, found: str, *, vector_sets: bool) -> str:
        """Why this cache cannot be used, and how to fix it: vectors of another model, size or encoding would
        answer with garbage."""
        if vector_sets:
            drop = (f"redis-cli --scan --pattern '{self._prefix}*' | xargs redis-cli UNLINK; "
                    f"redis-cli DEL {self._meta_key}")
        else:
            drop = f"redis-cli FT.DROPINDEX {self._index} DD; redis-cli DEL {self._meta_key}"
        return (f"Redis cache {self._index!r} {found}, but this gateway stores {self._dim}-d {self._vector_type} "
                f"vectors (VECTOR_TYPE) of {self._embedder!r}. Drop it ({drop}) or use another one (set INDEX_NAME "
                f"and KEY_PREFIX).")

    def _recorded_conflict(self, built: tuple[str, int, str] | None) -> str | None:
        """The conflict with what the meta key says built the cache, if it says another embedder or type."""
        if built is None or built == (self._embedder, self._dim, self._vector_type):
            return None
        embedder, dim, vector_type = built
        return self._conflict(f"holds {dim}-d {vector_type} vectors of embedder {embedder!r}",
                              vector_sets=vector_type == "int8" or isinstance(self._redis, RedisCluster))

    # ---- entries ----------------------------------------------------------------------------------------

    def _entry_fields(self, entry: Entry, ttl_ms: int) -> dict[str, Any]:
        """The hash fields every Redis store writes; the answer goes separately, with its TTL."""
        return {"model": entry.tags.model, "route": entry.tags.route, "user": entry.tags.tenant,
                "ctx": entry.tags.context, "created_at": int(time.time()), "usage": entry.usage, "ttl_ms": ttl_ms,
                "stale_ms": self._stale_ms, "hits": 0, "origin": entry.origin}

    def _entry_key(self, key: str) -> str:
        return self._prefix + key

    @abstractmethod
    async def _queue_write(self, pipe: Pipeline | ClusterPipeline, entry: Entry, ttl_ms: int) -> None:
        """Queue the commands that create or refill one entry, vector included."""

    @abstractmethod
    async def _prepare(self) -> None:
        """Make sure the vector structures exist before a write (e.g. an index Redis lost in a restart)."""

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        with store_errors("write"):
            await self._prepare()
            async with self._writer.pipeline(transaction=True) as pipe:
                await self._queue_write(pipe, entry, ttl_ms)
                await pipe.execute()

    async def write_many(self, entries: Sequence[Entry], *, ttl_ms: int) -> None:
        """Bulk load (benchmarks, warm-up): the same commands as `write`, pipelined by the page."""
        with store_errors("write"):
            await self._prepare()
            for start in range(0, len(entries), BULK_PAGE):
                page = entries[start:start + BULK_PAGE]
                async with self._writer.pipeline(transaction=False) as pipe:
                    for entry in page:
                        await self._queue_write(pipe, entry, ttl_ms)
                    await self._settle_page(page, await pipe.execute(), ttl_ms)

    async def _settle_page(self, entries: Sequence[Entry], replies: list[Any], ttl_ms: int) -> None:
        """Finish what a bulk page's replies say is left to do."""

    async def read(self, key: str, *, refresh: bool) -> Found | None:
        with store_errors("read"):
            found = await self._read_script(keys=[self._entry_key(key)], args=[int(refresh)])
        return Found(found[0], found[1].decode()) if found else None

    async def read_stale(self, key: str, *, within_ms: int) -> Stale | None:
        if within_ms <= 0:
            return None
        with store_errors("read"):
            found = await self._stale_script(keys=[self._entry_key(key)], args=[within_ms])
        if not found:
            return None
        answer, expired_ms, age_ms, origin = found
        return Stale(answer, int(expired_ms), max(int(age_ms), 0), origin.decode())

    async def note_hit(self, key: str) -> Freshness | None:
        with store_errors("count"):
            found = await self._hit_script(keys=[self._entry_key(key)])
        return Freshness(*(int(value) for value in found)) if found else None

    async def describe(self, key: str) -> Tags | None:
        with store_errors("read"):
            model, route, user, context = await self._redis.hmget(self._entry_key(key),
                                                                  ["model", "route", "user", "ctx"])
        if model is None or route is None or user is None or context is None:
            return None
        return Tags(model.decode(), route.decode(), user.decode(), context.decode())

    async def _flush_side_keys(self) -> None:
        """Blobs and ask counters belong to no route or tenant: only a flush of everything removes them."""
        for pattern in (f"{self._prefix}blob:*", f"{self._prefix}asks:*"):
            async for found in self._writer.scan_iter(match=pattern, count=1000):
                await self._writer.delete(found)

    # ---- counters and blobs -----------------------------------------------------------------------------

    async def bump(self, key: str, *, ttl_ms: int, by: int = 1) -> int:
        counter = f"{self._prefix}asks:{key}"
        with store_errors("count"):
            async with self._writer.pipeline(transaction=True) as pipe:
                pipe.incrby(counter, by)
                pipe.pexpire(counter, ttl_ms, nx=True)  # the window starts at the first ask
                count, _ = await pipe.execute()
        return int(count)

    async def get_blob(self, key: str) -> bytes | None:
        with store_errors("read"):
            value: bytes | None = await self._redis.get(self._prefix + "blob:" + key)
        return value

    async def put_blob(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        with store_errors("write"):
            await self._writer.set(self._prefix + "blob:" + key, value, px=ttl_ms)

    async def get_blobs(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        names = [self._prefix + "blob:" + key for key in keys]
        with store_errors("read"):
            # Blobs of a batch lie in many slots of a cluster, which MGET refuses: it is split by node there.
            read = self._redis.mget_nonatomic if isinstance(self._redis, RedisCluster) else self._redis.mget
            values: list[bytes | None] = await read(names)
        return values

    async def put_blobs(self, items: Sequence[tuple[str, bytes]], *, ttl_ms: int) -> None:
        if not items:
            return
        with store_errors("write"):
            async with self._writer.pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(self._prefix + "blob:" + key, value, px=ttl_ms)
                await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
        await self._writer.aclose()
