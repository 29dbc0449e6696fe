"""Entries for the store tests: unit vectors in a few dimensions, one set of tags, and a Redis store of each
vector type (FLOAT32 and FLOAT16 in a Query Engine index, int8 in native vector sets), and int8 on a Redis Cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from gateway.store.base import Candidate, Entry, Found, Freshness, Stale, Store, Tags
from gateway.store.redis.entries import RedisEntries
from gateway.store.redis.query_engine import RedisStore
from gateway.store.redis.vector_sets import VectorSetStore
from gateway.wire.canonical import SHARD_CHARS, shard_of

DIM = 8
TAGS = Tags(model="ft:gpt-4o-mini:org:custom", route="default", tenant="tenant1", context="ctx1")
REDIS_KINDS = ("redis", "redis-float16", "redis-int8")


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def entry(key: str, vector: np.ndarray | None, answer: bytes = b"answer", tags: Tags = TAGS) -> Entry:
    return Entry(key=key, tags=tags, prompt=f"prompt {key}", vector=vector, answer=answer)


def redis_store(kind: str, url: str, name: str, *, stale_ms: int = 0) -> RedisEntries:
    if kind == "redis-int8":
        return VectorSetStore(url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000, stale_ms=stale_ms)
    vector_type = "float16" if kind == "redis-float16" else "float32"
    return RedisStore(url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000, vector_type=vector_type,
                      stale_ms=stale_ms)


class ClusterIds(Store):
    """A vector-set store on a Redis Cluster, under the suite's short entry names. The gateway's entry ids begin
    with their scope's shard (`shard_of`), which is how a cluster finds an entry's slot from its id alone; this
    gives each name the shard of the tags it was written with (of `TAGS` if never written) on the way in, and
    takes it off candidates on the way out. Everything else is the real store's."""

    def __init__(self, store: VectorSetStore) -> None:
        self.store = store
        self._shards: dict[str, str] = {}

    def _id(self, name: str) -> str:
        return self._shards.get(name, shard_of(TAGS.context)) + name

    def _named(self, entry: Entry) -> Entry:
        self._shards[entry.key] = shard_of(entry.tags.context)
        return replace(entry, key=self._id(entry.key))

    async def open(self, *, dim: int, embedder: str) -> None:
        await self.store.open(dim=dim, embedder=embedder)

    async def close(self) -> None:
        await self.store.close()

    async def read(self, key: str, *, refresh: bool) -> Found | None:
        return await self.store.read(self._id(key), refresh=refresh)

    async def read_stale(self, key: str, *, within_ms: int) -> Stale | None:
        return await self.store.read_stale(self._id(key), within_ms=within_ms)

    async def note_hit(self, key: str) -> Freshness | None:
        return await self.store.note_hit(self._id(key))

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        found = await self.store.search(tags, vector, k)
        return [replace(candidate, key=candidate.key[SHARD_CHARS:]) for candidate in found]

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        await self.store.write(self._named(entry), ttl_ms=ttl_ms)

    async def write_many(self, entries: Sequence[Entry], *, ttl_ms: int) -> None:
        await self.store.write_many([self._named(entry) for entry in entries], ttl_ms=ttl_ms)

    async def describe(self, key: str) -> Tags | None:
        return await self.store.describe(self._id(key))

    async def delete(self, key: str) -> bool:
        return await self.store.delete(self._id(key))

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        return await self.store.flush(route=route, tenant=tenant)

    async def bump(self, key: str, *, ttl_ms: int, by: int = 1) -> int:
        return await self.store.bump(key, ttl_ms=ttl_ms, by=by)

    async def get_blob(self, key: str) -> bytes | None:
        return await self.store.get_blob(key)

    async def put_blob(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        await self.store.put_blob(key, value, ttl_ms=ttl_ms)

    async def get_blobs(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self.store.get_blobs(keys)

    async def put_blobs(self, items: Sequence[tuple[str, bytes]], *, ttl_ms: int) -> None:
        await self.store.put_blobs(items, ttl_ms=ttl_ms)

    async def health(self) -> dict[str, Any]:
        return await self.store.health()
