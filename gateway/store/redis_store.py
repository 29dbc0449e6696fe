"""The Redis 8 store: entries are hashes `cache:<exact digest>` indexed by the Query Engine (HNSW, cosine);
only the `resp` field carries a TTL (HSETEX/HGETEX), so vectors and tags outlive the answers."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from gateway.errors import StartupError, StoreError
from gateway.store.base import Candidate, Entry, Store, Tags

# One round trip for a read that renews the answer for the TTL it was written with (kept in `ttl_ms`),
# so a hit never stretches a short-lived answer to the default lifetime.
_READ_ANSWER = """
local ttl = redis.call('HGET', KEYS[1], 'ttl_ms')
if ARGV[1] == '1' and ttl then
  return redis.call('HGETEX', KEYS[1], 'PX', ttl, 'FIELDS', 1, 'resp')[1]
end
return redis.call('HGET', KEYS[1], 'resp')
"""


# Tag values travel as query parameters, never spliced into the query text: a model or route name with
# punctuation, spaces or a lone `_` can then neither break the query nor widen it.
# A tag is one whole value, compared case-sensitively: the default splits on "," and folds case, which
# would merge the routes "Support" and "support" or split a model name.
_EXACT_TAG = ("SEPARATOR", "\x1f", "CASESENSITIVE")
_TAG_FIELDS = (("model", "model"), ("route", "route"), ("user", "user"), ("ctx", "context"))


def tag_filter(values: dict[str, str]) -> tuple[str, list[str]]:
    """The filter `(@model:{$model} ...)` for the given fields and its PARAMS (name, value, ...)."""
    if not values:
        return "*", []
    query = "(" + " ".join(f"@{field}:{{${field}}}" for field in values) + ")"
    return query, [item for pair in values.items() for item in pair]


def knn_query(tags: Tags, k: int) -> tuple[str, list[str]]:
    where, params = tag_filter({field: getattr(tags, attribute) for field, attribute in _TAG_FIELDS})
    return f"{where}=>[KNN {k} @embedding $vec AS distance]", params


class RedisStore(Store):
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int) -> None:
        seconds = timeout_ms / 1000
        # One immediate retry lets a pooled connection that died with a restarted Redis reconnect at once;
        # anything slower than the timeout is an outage the caller bypasses.
        self._redis = redis.Redis.from_url(
            url, protocol=3, socket_timeout=seconds, socket_connect_timeout=seconds,
            retry=Retry(NoBackoff(), 1), health_check_interval=0,
        )
        self._url_host = self._redis.connection_pool.connection_kwargs.get("host", "unix")
        self._index = index
        self._prefix = prefix
        self._meta_key = f"{index}:meta"
        self._dim = 0
        self._embedder = ""
        self._indexed = False
        self._read_script = self._redis.register_script(_READ_ANSWER)

    async def open(self, *, dim: int, embedder: str) -> None:
        self._dim, self._embedder = dim, embedder
        await self._ensure_index()

    async def _ensure_index(self) -> None:
        """Create the index if absent (also after a Redis restart lost it); refuse one built otherwise."""
        try:
            existing = await self._index_dim()
            if existing is None:
                await self._create_index(self._dim)
                await self._redis.hset(self._meta_key, mapping={"embedder": self._embedder, "dim": self._dim})
                self._indexed = True
                return
            meta = await self._redis.hgetall(self._meta_key)
        except RedisError as error:
            raise StoreError(f"Redis is not usable: {error}") from error
        built_for = meta.get(b"embedder", b"?").decode()
        if existing != self._dim or built_for != self._embedder:
            raise StartupError(
                f"Redis index {self._index!r} holds {existing}-d vectors of embedder {built_for!r}, but this "
                f"gateway embeds {self._dim}-d vectors with {self._embedder!r}. Drop it (redis-cli "
                f"FT.DROPINDEX {self._index} DD) or use another one (set INDEX_NAME and KEY_PREFIX).")
        self._indexed = True

    async def _index_dim(self) -> int | None:
        try:
            info = await self._redis.execute_command("FT.INFO", self._index)
        except ResponseError as error:
            if "unknown index" in str(error).lower():
                return None
            raise
        for attribute in info.get(b"attributes", ()):
            if attribute.get(b"identifier") == b"embedding":
                return int(attribute.get(b"dim", 0))
        return 0

    async def _create_index(self, dim: int) -> None:
        await self._redis.execute_command(
            "FT.CREATE", self._index, "ON", "HASH", "PREFIX", "1", self._prefix, "SCHEMA",
            "prompt", "TEXT", "model", "TAG", *_EXACT_TAG, "route", "TAG", *_EXACT_TAG,
            "user", "TAG", *_EXACT_TAG, "ctx", "TAG", *_EXACT_TAG,
            "embedding", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(dim), "DISTANCE_METRIC", "COSINE",
        )

    async def close(self) -> None:
        await self._redis.aclose()

    async def read_answer(self, key: str, *, refresh: bool) -> bytes | None:
        try:
            answer: bytes | None = await self._read_script(keys=[self._prefix + key], args=[int(refresh)])
        except RedisError as error:
            raise StoreError(f"Redis read failed: {error}") from error
        return answer

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        if not self._indexed:
            await self._ensure_index()
        where, params = knn_query(tags, k)
        query = ("FT.SEARCH", self._index, where, "PARAMS", len(params) + 2, *params,
                 "vec", vector.astype(np.float32).tobytes(),
                 "SORTBY", "distance", "RETURN", 2, "distance", "prompt", "LIMIT", 0, k, "DIALECT", 2)
        try:
            try:
                reply = await self._redis.execute_command(*query)
            except ResponseError as error:
                if "no such index" not in str(error).lower():
                    raise
                await self._ensure_index()  # Redis restarted without persistence and lost the index
                reply = await self._redis.execute_command(*query)
        except RedisError as error:
            raise StoreError(f"Redis search failed: {error}") from error
        skip = len(self._prefix)
        rows = [(row[b"id"], row[b"extra_attributes"]) for row in reply.get(b"results", ())]
        return [Candidate(key.decode()[skip:], float(fields[b"distance"]), fields.get(b"prompt", b"").decode())
                for key, fields in rows]

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        if not self._indexed:
            await self._ensure_index()
        fields: dict[str, Any] = {
            "prompt": entry.prompt, "model": entry.tags.model, "route": entry.tags.route,
            "user": entry.tags.user, "ctx": entry.tags.context, "created_at": int(time.time()),
            "usage": entry.usage, "ttl_ms": ttl_ms,
        }
        if entry.vector is not None:
            fields["embedding"] = entry.vector.astype(np.float32).tobytes()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                key = self._prefix + entry.key
                pipe.hset(key, mapping=fields)
                pipe.execute_command("HSETEX", key, "PX", ttl_ms, "FIELDS", 1, "resp", entry.answer)
                await pipe.execute()
        except RedisError as error:
            raise StoreError(f"Redis write failed: {error}") from error

    async def describe(self, key: str) -> Tags | None:
        try:
            model, route, user, context = await self._redis.hmget(self._prefix + key, ["model", "route", "user", "ctx"])
        except RedisError as error:
            raise StoreError(f"Redis read failed: {error}") from error
        if model is None or route is None or user is None or context is None:
            return None
        return Tags(model.decode(), route.decode(), user.decode(), context.decode())

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self._redis.delete(self._prefix + key))
        except RedisError as error:
            raise StoreError(f"Redis delete failed: {error}") from error

    async def flush(self, *, route: str | None = None, user: str | None = None) -> int:
        query, params = tag_filter({field: value for field, value in (("route", route), ("user", user)) if value})
        deleted = 0
        try:
            if not self._indexed:
                await self._ensure_index()
            while True:  # delete in pages: each page is gone from the index before the next search
                reply = await self._redis.execute_command(
                    "FT.SEARCH", self._index, query, *(("PARAMS", len(params), *params) if params else ()),
                    "NOCONTENT", "LIMIT", 0, 1000, "DIALECT", 2)
                keys = [row[b"id"] for row in reply.get(b"results", ())]
                if not keys:
                    break
                deleted += await self._redis.delete(*keys)
            if not params:
                for pattern in (f"{self._prefix}blob:*", f"{self._prefix}asks:*"):
                    async for found in self._redis.scan_iter(match=pattern, count=1000):
                        await self._redis.delete(found)
        except RedisError as error:
            raise StoreError(f"Redis flush failed: {error}") from error
        return deleted

    async def bump(self, key: str, *, ttl_ms: int) -> int:
        counter = f"{self._prefix}asks:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.pexpire(counter, ttl_ms, nx=True)  # the window starts at the first ask
                count, _ = await pipe.execute()
        except RedisError as error:
            raise StoreError(f"Redis count failed: {error}") from error
        return int(count)

    async def get_blob(self, key: str) -> bytes | None:
        try:
            value: bytes | None = await self._redis.get(self._prefix + "blob:" + key)
        except RedisError as error:
            raise StoreError(f"Redis read failed: {error}") from error
        return value

    async def put_blob(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        try:
            await self._redis.set(self._prefix + "blob:" + key, value, px=ttl_ms)
        except RedisError as error:
            raise StoreError(f"Redis write failed: {error}") from error

    async def health(self) -> dict[str, Any]:
        try:
            await self._redis.ping()
            info = await self._redis.execute_command("FT.INFO", self._index)
        except RedisError as error:
            raise StoreError(f"Redis is not reachable: {error}") from error
        return {"backend": "redis", "host": self._url_host, "index": self._index,
                "documents": int(info.get(b"num_docs", 0))}
