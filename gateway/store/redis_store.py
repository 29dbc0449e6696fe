"""The Redis 8 store on the Query Engine: entry hashes carry their vector (FLOAT32, or FLOAT16 for half the
memory) and tags, indexed by one HNSW cosine index; a lookup is one FT.SEARCH with the scope as TAG filters, which
walks the graph in batches where the scope holds most of the index (`scope_share`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import numpy as np
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from gateway.store.base import Candidate, Entry, Tags
from gateway.store.redis_base import SEARCH_EF, RedisEntries, store_errors
from gateway.store.scope_share import ScopeShares, worth_counting

# Tag values travel as query parameters, never spliced into the query text: a model or route name with
# punctuation, spaces or a lone `_` can then neither break the query nor widen it.
# A tag is one whole value, compared case-sensitively: the default splits on "," and folds case, which
# would merge the routes "Support" and "support" or split a model name.
_EXACT_TAG = ("SEPARATOR", "\x1f", "CASESENSITIVE")
_TAG_FIELDS = (("model", "model"), ("route", "route"), ("user", "user"), ("ctx", "context"))
_DTYPES = {"float32": np.float32, "float16": np.float16}


def tag_filter(values: dict[str, str]) -> tuple[str, list[str]]:
    """The filter `(@model:{$model} ...)` for the given fields and its PARAMS (name, value, ...)."""
    if not values:
        return "*", []
    query = "(" + " ".join(f"@{field}:{{${field}}}" for field in values) + ")"
    return query, [item for pair in values.items() for item in pair]


def scope_filter(tags: Tags) -> tuple[str, list[str]]:
    return tag_filter({field: getattr(tags, attribute) for field, attribute in _TAG_FIELDS})


def knn_query(tags: Tags, k: int, *, batches: bool = False) -> tuple[str, list[str]]:
    where, params = scope_filter(tags)
    plan = " HYBRID_POLICY BATCHES" if batches else ""
    return f"{where}=>[KNN {k} @embedding $vec EF_RUNTIME {max(SEARCH_EF, k)}{plan} AS distance]", params


class RedisStore(RedisEntries):
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int, vector_type: str = "float32") -> None:
        super().__init__(url, index=index, prefix=prefix, timeout_ms=timeout_ms, vector_type=vector_type)
        self._dtype = _DTYPES[vector_type]
        self._indexed = False
        self._shares = ScopeShares()
        self._counting: set[asyncio.Task[None]] = set()

    async def open(self, *, dim: int, embedder: str) -> None:
        self._dim, self._embedder = dim, embedder
        await self._ensure_index()

    async def _prepare(self) -> None:
        if not self._indexed:
            await self._ensure_index()

    async def _ensure_index(self) -> None:
        """Create the index if absent (also after a Redis restart lost it); refuse one built otherwise."""
        with store_errors("index check"):
            shape = await self._index_shape()
            meta = await self._read_meta()
            if shape is None and meta is not None and meta[2] not in _DTYPES:
                raise self._refuse(*meta)  # the name belongs to a vector-set cache, which has no index
            if shape is None:
                await self._create_index()
                await self._write_meta()
                shape = (self._dim, self._vector_type)
        built = (meta[0] if meta is not None else self._embedder, *shape)
        if not self._matches(built):
            raise self._refuse(*built)
        self._indexed = True

    async def _index_shape(self) -> tuple[int, str] | None:
        """The dimension and vector type of the existing index, from the index itself."""
        try:
            info = await self._redis.execute_command("FT.INFO", self._index)
        except ResponseError as error:
            if "unknown index" in str(error).lower():
                return None
            raise
        for attribute in info.get(b"attributes", ()):
            if attribute.get(b"identifier") == b"embedding":
                return int(attribute.get(b"dim", 0)), attribute.get(b"data_type", b"FLOAT32").decode().lower()
        return 0, "none"

    async def _create_index(self) -> None:
        await self._redis.execute_command(
            "FT.CREATE", self._index, "ON", "HASH", "PREFIX", "1", self._prefix, "SCHEMA",
            "prompt", "TEXT", "model", "TAG", *_EXACT_TAG, "route", "TAG", *_EXACT_TAG,
            "user", "TAG", *_EXACT_TAG, "ctx", "TAG", *_EXACT_TAG,
            "embedding", "VECTOR", "HNSW", "6", "TYPE", self._vector_type.upper(), "DIM", str(self._dim),
            "DISTANCE_METRIC", "COSINE",
        )

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        await self._prepare()
        where, params = knn_query(tags, k, batches=self._shares.batches(tags))
        query = ("FT.SEARCH", self._index, where, "PARAMS", len(params) + 2, *params,
                 "vec", vector.astype(self._dtype).tobytes(),
                 "SORTBY", "distance", "RETURN", 2, "distance", "prompt", "LIMIT", 0, k, "DIALECT", 2)
        with store_errors("search"):
            try:
                reply = await self._redis.execute_command(*query)
            except ResponseError as error:
                if "no such index" not in str(error).lower():
                    raise
                await self._ensure_index()  # Redis restarted without persistence and lost the index
                reply = await self._redis.execute_command(*query)
        self._learn_sizes(tags)
        skip = len(self._prefix)
        rows = [(row[b"id"], row[b"extra_attributes"]) for row in reply.get(b"results", ())]
        return [Candidate(key.decode()[skip:], float(fields[b"distance"]), fields.get(b"prompt", b"").decode())
                for key, fields in rows]

    def _learn_sizes(self, tags: Tags) -> None:
        """Start learning what picks `tags`' plan when it is due, off the lookup's path."""
        index, scope = self._shares.claim_index_size(), self._shares.claim_count(tags)
        if index or scope:
            task = asyncio.create_task(self._count(tags if scope else None, index=index))
            self._counting.add(task)
            task.add_done_callback(self._counting.discard)

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

    async def _queue_write(self, pipe: Pipeline, entry: Entry, ttl_ms: int) -> None:
        fields = {"prompt": entry.prompt, **self._entry_fields(entry, ttl_ms)}
        if entry.vector is not None:
            fields["embedding"] = entry.vector.astype(self._dtype).tobytes()
        key = self._prefix + entry.key
        pipe.hset(key, mapping=fields)
        pipe.execute_command("HSETEX", key, "PX", ttl_ms, "FIELDS", 1, "resp", entry.answer)

    async def delete(self, key: str) -> bool:
        with store_errors("delete"):
            return bool(await self._redis.delete(self._prefix + key))

    async def flush(self, *, route: str | None = None, user: str | None = None) -> int:
        query, params = tag_filter({field: value for field, value in (("route", route), ("user", user)) if value})
        deleted = 0
        await self._prepare()
        with store_errors("flush"):
            while True:  # delete in pages: each page is gone from the index before the next search
                reply = await self._redis.execute_command(
                    "FT.SEARCH", self._index, query, *(("PARAMS", len(params), *params) if params else ()),
                    "NOCONTENT", "LIMIT", 0, 1000, "DIALECT", 2)
                keys = [row[b"id"] for row in reply.get(b"results", ())]
                if not keys:
                    break
                deleted += await self._redis.delete(*keys)
            if not params:
                await self._flush_side_keys()
        return deleted

    async def close(self) -> None:
        for task in self._counting:
            task.cancel()
        await asyncio.gather(*self._counting, return_exceptions=True)
        await super().close()

    async def health(self) -> dict[str, Any]:
        with store_errors("health check"):
            await self._redis.ping()
            info = await self._redis.execute_command("FT.INFO", self._index)
        return {"backend": "redis", "host": self._url_host, "index": self._index, "vector_type": self._vector_type,
                "documents": int(info.get(b"num_docs", 0)),
                "vector_index_mb": float(info.get(b"vector_index_sz_mb", 0))}
