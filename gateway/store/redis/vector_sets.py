"""The Redis 8 store on native vector sets (no Query Engine module): one vector set per scope, so a lookup is
one VSIM on exactly the entries of its scope. Its vectors are quantised to int8 (`VADD ... Q8`, a quarter of
FLOAT32's memory) or, on a Redis Cluster where the Query Engine cannot go, kept as float32 (`NOQUANT`). The entry
hashes, answers, blobs and counters are shared with the other Redis store.

A scope's name starts with the embedder's fingerprint (`<prefix>vset:<fingerprint>:<scope digest>`), so vectors of
two embedders never meet in one set; on a Redis Cluster every name also carries its shard's hash tag
(`vector_set_keys.py`), and every change is one Lua script on one slot (`vector_set_scripts.py`). A key of
another type or size under a scope's name is an incident: that scope is searched and written as if empty, every
other one as usual."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ResponseError

from gateway.errors import StartupError
from gateway.setting_values import is_cluster_url
from gateway.store.base import Candidate, Entry, Tags
from gateway.store.redis import vector_set_scripts as scripts
from gateway.store.redis.entries import SEARCH_EF, RedisEntries, store_errors
from gateway.store.redis.vector_set_keys import VectorSetKeys
from gateway.wire.canonical import SHARD_CHARS

DROP_PAGE = 200  # entries per scripted page: each page blocks Redis for its VREMs, so keep it short


# How each VECTOR_TYPE a vector set can hold is asked of VADD; vector sets have no half precision.
QUANTISATIONS = {"int8": "Q8", "float32": "NOQUANT"}

MIN_VERSION = (8, 2)  # VSIM ... WITHATTRIBS and VISMEMBER arrived in Redis 8.2


def recent_enough(version: str) -> bool:
    """Whether a `redis_version` string is at least `MIN_VERSION`."""
    try:
        return tuple(int(part) for part in version.split(".")[:2]) >= MIN_VERSION
    except ValueError:
        return False


def scope_digest(tags: Tags) -> str:
    scope = orjson.dumps([tags.model, tags.route, tags.tenant, tags.context])
    return hashlib.blake2b(scope, digest_size=16).hexdigest()


def _foreign_reply(error: ResponseError) -> bool:
    """Whether Redis refused a vector set command because the key holds something else."""
    return str(error).startswith(("WRONGTYPE", "Vector dimension mismatch"))


class VectorSetStore(RedisEntries):
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int, vector_type: str = "int8",
                 stale_ms: int = 0) -> None:
        # The vector type is part of every scope's name (the fingerprint) and of the meta key, so a gateway of
        # another quantisation is refused at start-up instead of having its VADDs refused.
        super().__init__(url, index=index, prefix=prefix, timeout_ms=timeout_ms, vector_type=vector_type,
                         stale_ms=stale_ms)
        self._quantisation = QUANTISATIONS[vector_type]
        self._keys = VectorSetKeys(prefix, cluster=is_cluster_url(url))
        self._write_script = self._writer.register_script(scripts.WRITE)
        self._delete_script = self._writer.register_script(scripts.DELETE)
        self._drop_page = self._writer.register_script(scripts.DROP_PAGE)

    def _entry_key(self, key: str) -> str:
        return self._keys.entry(key)

    async def open(self, *, dim: int, embedder: str) -> None:
        self._expect(dim, embedder)
        with store_errors("start-up check"):
            versions = await self._redis.info("server", **self._on_masters)
            for version in _versions(versions):
                if not recent_enough(version):
                    # An older server would fail every search, so the cache would flap between working and bypassed.
                    raise StartupError(f"VECTOR_TYPE={self._vector_type} needs Redis 8.2 or later (vector sets with "
                                       f"VSIM WITHATTRIBS); this server is {version or 'of unknown version'}")
            built = await self._read_meta()
            conflict = self._recorded_conflict(built) if built is not None else await self._unrecorded_conflict()
            if conflict is not None:
                raise StartupError(conflict)
            if built is None:
                await self._write_meta()  # new, or its record evicted or deleted, and the scopes prove it ours

    async def _registries(self) -> list[str]:
        """Every scope registry: on a cluster, one per shard in use, on every master."""
        if not self._keys.cluster:
            return [self._keys.registry("")]
        return [found.decode() async for found in self._writer.scan_iter(match=self._keys.registry_pattern(),
                                                                          count=1000)]

    async def _unrecorded_conflict(self) -> str | None:
        """Without a meta key, the scope registry tells whose vectors these are: scopes of another fingerprint make
        the cache another embedder's (scopes without one are an earlier version's, never searched)."""
        for registry in await self._registries():
            async for scope in self._redis.hscan_iter(registry, count=1000, no_values=True):
                owner, marked, _ = scope.decode().partition(":")
                if marked and owner != self._fingerprint:
                    return self._conflict(f"holds vector sets of another embedder or vector type (fingerprint "
                                          f"{owner}; {self._meta_key}, which would name it, is gone)",
                                          vector_sets=True)
        return None

    async def _prepare(self) -> None:
        """Before a bulk write (vector sets come into being with their first VADD): its pipeline runs the write
        script by digest, which a cluster's pipeline cannot load on a master that lacks it, so load it on all."""
        await self._writer.script_load(scripts.WRITE)

    def _scope(self, tags: Tags) -> str:
        return f"{self._fingerprint}:{scope_digest(tags)}"

    def _foreign(self, key: str, holds: str) -> None:
        self._incidents.found(key, f"Redis cache {self._index!r} holds {holds} under {key!r}, where this gateway "
                                   f"keeps a vector set of {self._dim}-d vectors: delete that key.")

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        vectors, _ = self._keys.scope(self._keys.shard(tags), self._scope(tags))
        with store_errors("search"):
            try:
                reply = await self._redis.execute_command(
                    "VSIM", vectors, "FP32", vector.astype(np.float32).tobytes(), "WITHSCORES", "WITHATTRIBS",
                    "COUNT", k, "EF", max(SEARCH_EF, k))
            except ResponseError as error:
                if not _foreign_reply(error):
                    raise
                self._foreign(vectors, f"a key Redis refuses to search ({error})")
                return []
        found = sorted((reply or {}).items(), key=lambda item: -item[1][0])  # no set: an empty array
        try:
            # VSIM's score is (1 + cosine) / 2: 1 for the same direction, 0 for the opposite one.
            candidates = [Candidate(element.decode(), 2.0 * (1.0 - float(score)), orjson.loads(attributes)["prompt"])
                          for element, (score, attributes) in found]
        except (TypeError, KeyError, orjson.JSONDecodeError):
            self._foreign(vectors, "a vector set of elements it did not write")
            return []
        self._incidents.gone(vectors)
        return candidates

    def _write_call(self, entry: Entry, ttl_ms: int, old: str = "") -> tuple[list[str], list[Any]]:
        scope = self._scope(entry.tags)
        shard = self._keys.shard(entry.tags)
        vector = b"" if entry.vector is None else entry.vector.astype(np.float32).tobytes()
        fields = [item for pair in self._entry_fields(entry, ttl_ms).items() for item in pair]
        moved = list(self._keys.scope(entry.key[:SHARD_CHARS], old)) if old else []
        return ([self._keys.entry(entry.key), *self._keys.scope(shard, scope), self._keys.registry(shard), *moved],
                [entry.key, scope, orjson.dumps([entry.tags.route, entry.tags.tenant]), ttl_ms, entry.answer,
                 vector, orjson.dumps({"prompt": entry.prompt}), old, self._stale_ms, self._quantisation, *fields])

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        """One script call: atomic without MULTI, and no pipeline asking whether the script is loaded (two when
        the entry moves to another scope)."""
        with store_errors("write"):
            keys, args = self._write_call(entry, ttl_ms)
            reply = await self._write_script(keys=keys, args=args)
            while isinstance(reply, list):  # it moves from the scope named: write again naming that scope's keys
                keys, args = self._write_call(entry, ttl_ms, reply[0].decode())
                reply = await self._write_script(keys=keys, args=args)
        if reply is not None:  # nothing written: the scope's vector set is not ours
            self._foreign(keys[1], reply.decode())

    async def _queue_write(self, pipe: Pipeline | ClusterPipeline, entry: Entry, ttl_ms: int) -> None:
        keys, args = self._write_call(entry, ttl_ms)
        await self._write_script(keys=keys, args=args, client=pipe)

    async def _settle_page(self, entries: Sequence[Entry], replies: list[Any], ttl_ms: int) -> None:
        for entry, reply in zip(entries, replies, strict=True):
            if reply is not None:  # moved or foreign: what `write` does on its own
                await self.write(entry, ttl_ms=ttl_ms)

    async def delete(self, key: str) -> bool:
        entry = self._keys.entry(key)
        with store_errors("delete"):
            scope = await self._writer.hget(entry, "scope")
            while True:
                found = (scope or b"").decode()
                removed = await self._delete_script(
                    keys=[entry, *self._keys.scope(key[:SHARD_CHARS], found)], args=[key, found])
                if not isinstance(removed, list):
                    return bool(removed)
                scope = removed[0]

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        deleted = 0
        with store_errors("flush"):
            for registry in await self._registries():
                shard = self._keys.shard_of_registry(registry)
                for scope, owner in (await self._writer.hgetall(registry)).items():
                    scope_route, scope_tenant = orjson.loads(owner)
                    if route in (None, scope_route) and tenant in (None, scope_tenant):
                        deleted += await self._drop_scope(registry, shard, scope.decode())
            if route is None and tenant is None:
                await self._flush_side_keys()
        return deleted

    async def _drop_scope(self, registry: str, shard: str, scope: str) -> int:
        """Remove a scope page by page; the number of entries removed."""
        vectors, exact = self._keys.scope(shard, scope)
        deleted = 0
        while True:
            async with self._writer.pipeline(transaction=False) as pipe:
                pipe.execute_command("VRANDMEMBER", vectors, DROP_PAGE)
                pipe.srandmember(exact, DROP_PAGE)
                in_vectors, in_exact = await pipe.execute()
            members = [member.decode() for member in (in_vectors or in_exact or [])]
            removed = await self._drop_page(
                keys=[vectors, exact, registry, *(self._keys.entry(member) for member in members)],
                args=[scope, *members])
            if removed < 0:
                return deleted
            deleted += removed

    async def _recheck_incidents(self) -> None:
        """Forget the foreign keys that are gone or were replaced by a vector set of ours."""
        places = self._incidents.places()
        if not places:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in places:
                pipe.execute_command("VDIM", key)
            dims = await pipe.execute(raise_on_error=False)
        for key, dim in zip(places, dims, strict=True):
            if dim == self._dim or (isinstance(dim, ResponseError) and "does not exist" in str(dim)):
                self._incidents.gone(key)

    async def health(self) -> dict[str, Any]:
        with store_errors("health check"):
            if isinstance(self._redis, RedisCluster):
                # Counting scopes would mean a SCAN of every master; what every master holds is one DBSIZE each.
                size: dict[str, Any] = {"keys": int(await self._redis.dbsize(target_nodes=RedisCluster.PRIMARIES)),
                                        "masters": len(self._redis.get_primaries())}
            else:
                size = {"scopes": int(await self._redis.hlen(self._keys.registry("")))}
            await self._recheck_incidents()
        return {"backend": "redis", "host": self._url_host, "vector_type": self._vector_type, **size,
                **self._incidents.health()}


def _versions(info: dict[Any, Any]) -> list[str]:
    """Each node's `redis_version`: one node's INFO, or a cluster's by node."""
    replies = info.values() if all(isinstance(reply, dict) for reply in info.values()) else [info]
    return [str(reply.get("redis_version", "")) for reply in replies]
