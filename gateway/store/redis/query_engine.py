"""The Redis 8 store on the Query Engine: entry hashes carry their vector (FLOAT32, or FLOAT16 for half the
memory) and tags, indexed by one HNSW cosine index; a lookup is one FT.SEARCH with the scope as TAG filters, which
walks the graph in batches where the scope holds most of the index (`scope_share`).

The index under INDEX_NAME is checked to be this store's (`index_definition`) at start-up, when a search fails, by
`health`, and every `verify_secs` off the lookups' path: another one there is an incident (`incidents`) during
which searches find nothing and a flush deletes nothing, until the index is this store's again."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from gateway.errors import StartupError, StoreError
from gateway.setting_values import is_cluster_url
from gateway.store.base import Candidate, Entry, Tags
from gateway.store.redis.entries import SEARCH_EF, RedisEntries, store_errors
from gateway.store.redis.index_definition import VECTOR_FIELD, Definition
from gateway.store.redis.scope_share import ScopeShares, worth_counting
from gateway.tasks import Background

# Tag values travel as query parameters, never spliced into the query text: a model or route name with
# punctuation, spaces or a lone `_` can then neither break the query nor widen it.
_TAG_FIELDS = (("model", "model"), ("route", "route"), ("user", "tenant"), ("ctx", "context"))
_DTYPES = {"float32": np.float32, "float16": np.float16}
VERIFY_SECS = 15.0  # how stale the knowledge that the index is ours may get while lookups find nothing amiss
_RACED = ("already exists", "unknown index")  # another worker created or dropped the index at the same moment

log = logging.getLogger("latency_slayer.store")


def tag_filter(values: dict[str, str]) -> tuple[str, list[str]]:
    """The filter `(@model:{$model} ...)` for the given fields and its PARAMS (name, value, ...)."""
    if not values:
        return "*", []
    query = "(" + " ".join(f"@{field}:{{${field}}}" for field in values) + ")"
    return query, [item for pair in values.items() for item in pair]


def scope_filter(tags: Tags) -> tuple[str, list[str]]:
    return tag_filter({field: getattr(tags, attribute) for field, attribute in _TAG_FIELDS})


def knn_query(tags: Tags, k: int, *, batches: bool = False, attribute: str = VECTOR_FIELD) -> tuple[str, list[str]]:
    where, params = scope_filter(tags)
    plan = " HYBRID_POLICY BATCHES" if batches else ""
    return f"{where}=>[KNN {k} @{attribute} $vec EF_RUNTIME {max(SEARCH_EF, k)}{plan} AS distance]", params


class RedisStore(RedisEntries):
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int, vector_type: str = "float32",
                 verify_secs: float = VERIFY_SECS, stale_ms: int = 0) -> None:
        if is_cluster_url(url):
            # The Query Engine we can install is no coordinator: an index would see one shard's entries.
            # float32 reaches here only on a single node (`assembly.make_store`); vector sets have no float16.
            raise StartupError(f"VECTOR_TYPE={vector_type} keeps vectors in a Query Engine index, which cannot span "
                               f"a Redis Cluster: with a redis+cluster:// URL set VECTOR_TYPE=int8 or float32 "
                               f"(vector sets, which have no half precision)")
        super().__init__(url, index=index, prefix=prefix, timeout_ms=timeout_ms, vector_type=vector_type,
                         stale_ms=stale_ms)
        self._dtype = _DTYPES[vector_type]
        self._definition = Definition(prefix, "", 0, vector_type)
        self._probe = b""  # a unit vector for the periodic check
        self._verify_secs = verify_secs
        self._verified_at: float | None = None  # None: not known to be ours (never checked, or lost)
        self._shares = ScopeShares()
        self._background = Background()

    async def open(self, *, dim: int, embedder: str) -> None:
        self._expect(dim, embedder)
        self._definition = Definition(self._prefix, f"v_{self._fingerprint}", dim, self._vector_type)
        self._probe = np.eye(1, dim, dtype=self._dtype).tobytes()
        with store_errors("index check"):
            conflict, _ = await self._reconcile()
        if conflict is not None:
            raise StartupError(conflict)
        self._verified_at = time.monotonic()

    # ---- is the index ours? -----------------------------------------------------------------------------

    async def _index_info(self) -> dict[bytes, Any] | None:
        try:
            info: dict[bytes, Any] = await self._redis.execute_command("FT.INFO", self._index)
        except ResponseError as error:
            if "unknown index" in str(error).lower():
                return None
            raise
        return info

    async def _reconcile(self) -> tuple[str | None, dict[bytes, Any]]:
        """Create the index when absent (also after a Redis restart lost it), rebuild an earlier version's that the
        meta key proves ours, restore the meta key. The conflict when the index or the meta key is another's, else
        None and the index's FT.INFO."""
        meta = await self._read_meta()
        conflict = self._recorded_conflict(meta)
        if conflict is not None:
            return conflict, {}
        info = await self._index_info()
        if info is None or (meta is not None and self._definition.built_earlier(info)):
            await self._build(rebuild=info is not None)
            info = await self._index_info()  # ours, unless another one won the race
        if info is None:
            return None, {}  # dropped again at once: whoever looks next creates it
        problem = self._definition.mismatch(info)
        if problem is not None:
            return self._conflict(problem, vector_sets=False), {}
        if meta is None:
            await self._write_meta()  # evicted or deleted: the index proves the cache is ours
        return None, info

    async def _build(self, *, rebuild: bool) -> None:
        async with self._writer.pipeline(transaction=True) as pipe:
            if rebuild:  # keeps the entries: Redis indexes them again under the new definition
                pipe.execute_command("FT.DROPINDEX", self._index)
            pipe.execute_command(*self._definition.create(self._index))
            for result in await pipe.execute(raise_on_error=False):
                if isinstance(result, ResponseError) and not any(race in str(result).lower() for race in _RACED):
                    raise result
        if rebuild:
            log.warning("Redis index %r was built by an earlier version; rebuilt with its embedder recorded in it. "
                        "Redis indexes its entries again in the background: until it is done, lookups find only "
                        "those indexed so far", self._index)

    async def _verify(self) -> dict[bytes, Any]:
        """The full check: an incident found or gone; the index's FT.INFO when it is ours."""
        conflict, info = await self._reconcile()
        self._verified_at = time.monotonic()
        if conflict is None:
            self._incidents.gone(self._index)
        else:
            self._incidents.found(self._index, conflict)
        return info

    async def _check(self) -> None:
        """The periodic check, one cheap round trip while all is well: a nearest-neighbour probe by this embedder's
        attribute finds a vector in an index of ours only. Anything else (an empty index too, or no meta key) gets
        the full check, whose FT.INFO blocks Redis for milliseconds once an index holds tens of thousands."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.execute_command("FT.SEARCH", self._index, f"*=>[KNN 1 @{self._definition.attribute} $vec]",
                                 "PARAMS", 2, "vec", self._probe, "NOCONTENT", "LIMIT", 0, 1, "DIALECT", 2)
            pipe.exists(self._meta_key)
            found, meta = await pipe.execute(raise_on_error=False)
        if isinstance(found, dict) and found.get(b"total_results") and meta == 1 and not self._incidents:
            self._verified_at = time.monotonic()
            return
        await self._verify()

    async def _check_quietly(self) -> None:
        with contextlib.suppress(RedisError):  # not checked now is checked at the next lookup
            await self._check()

    async def _prepare(self) -> None:
        if self._verified_at is None:
            await self._verify()
        elif time.monotonic() - self._verified_at >= self._verify_secs:
            self._verified_at = time.monotonic()  # claimed: concurrent lookups check once
            self._in_background(self._check_quietly())

    # ---- lookups ----------------------------------------------------------------------------------------

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        where, params = knn_query(tags, k, batches=self._shares.batches(tags), attribute=self._definition.attribute)
        query = ("FT.SEARCH", self._index, where, "PARAMS", len(params) + 2, *params,
                 "vec", vector.astype(self._dtype).tobytes(),
                 "SORTBY", "distance", "RETURN", 2, "distance", "prompt", "LIMIT", 0, k, "DIALECT", 2)
        with store_errors("search"):
            await self._prepare()
            if self._incidents:
                return []  # the index under our name is another's: no semantic layer, no error either
            try:
                reply = await self._redis.execute_command(*query)
            except ResponseError:  # Redis lost the index, or someone replaced it: find out before trying again
                await self._verify()
                if self._incidents:
                    return []
                reply = await self._redis.execute_command(*query)
        self._learn_sizes(tags)
        skip = len(self._prefix)
        rows = [(row[b"id"], row[b"extra_attributes"]) for row in reply.get(b"results", ())]
        return [Candidate(key.decode()[skip:], float(fields[b"distance"]), fields.get(b"prompt", b"").decode())
                for key, fields in rows]

    def _in_background(self, work: Any) -> None:
        self._background.spawn(work)

    def _learn_sizes(self, tags: Tags) -> None:
        """Start learning what picks `tags`' plan when it is due, off the lookup's path."""
        index, scope = self._shares.claim_index_size(), self._shares.claim_count(tags)
        if index or scope:
            self._in_background(self._count(tags if scope else None, index=index))

    async def _count(self, scope: Tags | None, *, index: bool) -> None:
        with contextlib.suppress(RedisError):  # a size not learnt now is asked for a period later
            if index:
                size = int(await self._redis.dbsize())
                if worth_counting(size):  # else the index is big, and counting it would block Redis for ms
                    reply = await self._redis.execute_command(
                        "FT.SEARCH", self._index, "*", "LIMIT", 0, 0, "DIALECT", 2)
                    size = int(reply[b"total_results"])
                self._shares.learn_index_size(size)
            if scope is not None:
                where, params = scope_filter(scope)
                reply = await self._redis.execute_command(
                    "FT.SEARCH", self._index, where, "PARAMS", len(params), *params, "LIMIT", 0, 0, "DIALECT", 2)
                self._shares.learn_count(scope, int(reply[b"total_results"]))

    # ---- writes -----------------------------------------------------------------------------------------

    async def _queue_write(self, pipe: Pipeline, entry: Entry, ttl_ms: int) -> None:
        fields = {"prompt": entry.prompt, **self._entry_fields(entry, ttl_ms)}
        if entry.vector is not None:
            fields[VECTOR_FIELD] = entry.vector.astype(self._dtype).tobytes()
        key = self._prefix + entry.key
        pipe.hset(key, mapping=fields)
        pipe.execute_command("HSETEX", key, "PX", ttl_ms, "FIELDS", 1, "resp", entry.answer)
        if self._stale_ms:
            pipe.execute_command("HSETEX", key, "PX", ttl_ms + self._stale_ms, "FIELDS", 1, "stale", entry.answer)
        else:  # an older copy, kept while stale copies were, must not outlive the answer that replaced it
            pipe.hdel(key, "stale")

    async def delete(self, key: str) -> bool:
        with store_errors("delete"):
            return bool(await self._writer.delete(self._prefix + key))

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        query, params = tag_filter({field: value for field, value in (("route", route), ("user", tenant)) if value})
        deleted = 0
        with store_errors("flush"):
            await self._verify()  # the keys to delete come from the index: it must be ours now, not 15 s ago
            if self._incidents:
                raise StoreError(f"nothing flushed: {self._incidents.health()['error']}")
            while True:  # delete in pages: each page is gone from the index before the next search
                reply = await self._writer.execute_command(
                    "FT.SEARCH", self._index, query, *(("PARAMS", len(params), *params) if params else ()),
                    "NOCONTENT", "LIMIT", 0, 1000, "DIALECT", 2)
                keys = [row[b"id"] for row in reply.get(b"results", ())]
                if not keys:
                    break
                deleted += await self._writer.delete(*keys)
            if not params:
                await self._flush_side_keys()
        return deleted

    async def close(self) -> None:
        await self._background.cancel()
        await super().close()

    async def health(self) -> dict[str, Any]:
        with store_errors("health check"):
            info = await self._verify()
        return {"backend": "redis", "host": self._url_host, "index": self._index, "vector_type": self._vector_type,
                "documents": int(info.get(b"num_docs", 0)),
                "vector_index_mb": float(info.get(b"vector_index_sz_mb", 0)), **self._incidents.health()}
