"""The Redis 8 store on native vector sets (no Query Engine module): one vector set per scope, its vectors
quantised to int8 (`VADD ... Q8`, a quarter of FLOAT32's memory), so a lookup is one VSIM on exactly the
entries of its scope. The entry hashes, answers, blobs and counters are shared with the other Redis store.

A scope's name starts with the embedder's fingerprint (`<prefix>vset:<fingerprint>:<scope digest>`), so vectors of
two embedders never meet in one set. A key of another type or size under a scope's name is an incident: that scope
is searched and written as if empty, every other one as usual."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import orjson
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from gateway.errors import StartupError
from gateway.store.base import Candidate, Entry, Tags
from gateway.store.redis.entries import SEARCH_EF, RedisEntries, store_errors

# Create or refill an entry atomically. An entry keeps its vector when refilled without one; one without any
# vector joins its scope's exact-only set, so a flush by route or tenant still finds it. Each hash records its
# scope digest, so a rewrite under other tags leaves the old scope, and `delete` knows where to look.
# A vector set key that holds anything else stops the write before it changes anything, and says what it holds.
# KEYS: hash, scope vector set, scope exact-only set, scope registry.
# ARGV: element, scope, [route, user] JSON, ttl_ms, answer, FP32 vector or '', attributes, prefix, fields...
_WRITE = """
local kind = redis.call('TYPE', KEYS[2])['ok']
if kind == 'vectorset' and ARGV[6] ~= '' then
  local dim = redis.call('VDIM', KEYS[2])
  if dim * 4 ~= #ARGV[6] then return 'a vector set of ' .. dim .. '-d vectors' end
elseif kind ~= 'none' and kind ~= 'vectorset' then
  return 'a ' .. kind
end
local old = redis.call('HGET', KEYS[1], 'scope')
if old and old ~= ARGV[2] then
  redis.call('VREM', ARGV[8] .. 'vset:' .. old, ARGV[1])
  redis.call('SREM', ARGV[8] .. 'exact:' .. old, ARGV[1])
end
redis.call('HSET', KEYS[1], 'scope', ARGV[2], unpack(ARGV, 9))
redis.call('HSETEX', KEYS[1], 'PX', ARGV[4], 'FIELDS', 1, 'resp', ARGV[5])
if ARGV[6] ~= '' then
  redis.call('VADD', KEYS[2], 'FP32', ARGV[6], ARGV[1], 'Q8', 'SETATTR', ARGV[7])
  redis.call('SREM', KEYS[3], ARGV[1])
elseif redis.call('VISMEMBER', KEYS[2], ARGV[1]) == 0 then
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
"""

# KEYS: hash. ARGV: element, prefix.
_DELETE = """
local scope = redis.call('HGET', KEYS[1], 'scope')
if scope then
  redis.call('VREM', ARGV[2] .. 'vset:' .. scope, ARGV[1])
  redis.call('SREM', ARGV[2] .. 'exact:' .. scope, ARGV[1])
end
return redis.call('DEL', KEYS[1])
"""

# One page of a scope's removal, atomic so a concurrent write is either removed or kept whole; an emptied
# scope leaves the registry in the same step. Returns entries removed, or -1 once the scope is gone.
# KEYS: scope vector set, scope exact-only set, scope registry. ARGV: scope, prefix, page size.
_DROP_PAGE = """
local members = redis.call('VRANDMEMBER', KEYS[1], ARGV[3])
if #members == 0 then members = redis.call('SRANDMEMBER', KEYS[2], ARGV[3]) end
if #members == 0 then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return -1
end
local removed = 0
for _, member in ipairs(members) do
  redis.call('VREM', KEYS[1], member)
  redis.call('SREM', KEYS[2], member)
  removed = removed + redis.call('DEL', ARGV[2] .. member)
end
return removed
"""

DROP_PAGE = 200  # entries per scripted page: each page blocks Redis for its VREMs, so keep it short


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
    def __init__(self, url: str, *, index: str, prefix: str, timeout_ms: int) -> None:
        super().__init__(url, index=index, prefix=prefix, timeout_ms=timeout_ms, vector_type="int8")
        self._registry = f"{prefix}scopes"
        self._write_script = self._writer.register_script(_WRITE)
        self._delete_script = self._writer.register_script(_DELETE)
        self._drop_page = self._writer.register_script(_DROP_PAGE)

    async def open(self, *, dim: int, embedder: str) -> None:
        self._expect(dim, embedder)
        with store_errors("start-up check"):
            version = str((await self._redis.info("server")).get("redis_version", ""))
            if not recent_enough(version):
                # An older server would fail every search, so the cache would flap between working and bypassed.
                raise StartupError(f"VECTOR_TYPE=int8 needs Redis 8.2 or later (vector sets with VSIM WITHATTRIBS); "
                                   f"this server is {version or 'of unknown version'}")
            built = await self._read_meta()
            conflict = self._recorded_conflict(built) if built is not None else await self._unrecorded_conflict()
            if conflict is not None:
                raise StartupError(conflict)
            if built is None:
                await self._write_meta()  # new, or its record evicted or deleted, and the scopes prove it ours

    async def _unrecorded_conflict(self) -> str | None:
        """Without a meta key, the scope registry tells whose vectors these are: scopes of another fingerprint make
        the cache another embedder's (scopes without one are an earlier version's, never searched)."""
        async for scope in self._redis.hscan_iter(self._registry, count=1000, no_values=True):
            owner, marked, _ = scope.decode().partition(":")
            if marked and owner != self._fingerprint:
                return self._conflict(f"holds vector sets of another embedder or vector type (fingerprint {owner}; "
                                      f"{self._meta_key}, which would name it, is gone)", vector_sets=True)
        return None

    async def _prepare(self) -> None:
        """Vector sets come into being with their first VADD: nothing to prepare."""

    def _scope(self, tags: Tags) -> str:
        return f"{self._fingerprint}:{scope_digest(tags)}"

    def _scope_keys(self, scope: str) -> tuple[str, str]:
        return f"{self._prefix}vset:{scope}", f"{self._prefix}exact:{scope}"

    def _foreign(self, key: str, holds: str) -> None:
        self._incidents.found(key, f"Redis cache {self._index!r} holds {holds} under {key!r}, where this gateway "
                                   f"keeps a vector set of {self._dim}-d vectors: delete that key.")

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        vectors, _ = self._scope_keys(self._scope(tags))
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

    def _write_call(self, entry: Entry, ttl_ms: int) -> tuple[list[str], list[Any]]:
        scope = self._scope(entry.tags)
        vector = b"" if entry.vector is None else entry.vector.astype(np.float32).tobytes()
        fields = [item for pair in self._entry_fields(entry, ttl_ms).items() for item in pair]
        return ([self._prefix + entry.key, *self._scope_keys(scope), self._registry],
                [entry.key, scope, orjson.dumps([entry.tags.route, entry.tags.tenant]), ttl_ms, entry.answer,
                 vector, orjson.dumps({"prompt": entry.prompt}), self._prefix, *fields])

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        """One script call: atomic without MULTI, and no pipeline asking whether the script is loaded."""
        keys, args = self._write_call(entry, ttl_ms)
        with store_errors("write"):
            holds = await self._write_script(keys=keys, args=args)
        if holds is not None:  # nothing written: the scope's vector set is not ours
            self._foreign(keys[1], holds.decode())

    async def _queue_write(self, pipe: Pipeline, entry: Entry, ttl_ms: int) -> None:
        keys, args = self._write_call(entry, ttl_ms)
        await self._write_script(keys=keys, args=args, client=pipe)

    async def delete(self, key: str) -> bool:
        with store_errors("delete"):
            return bool(await self._delete_script(keys=[self._prefix + key], args=[key, self._prefix]))

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        deleted = 0
        with store_errors("flush"):
            for scope, owner in (await self._writer.hgetall(self._registry)).items():
                scope_route, scope_tenant = orjson.loads(owner)
                if route not in (None, scope_route) or tenant not in (None, scope_tenant):
                    continue
                while (removed := await self._drop_page(
                        keys=[*self._scope_keys(scope.decode()), self._registry],
                        args=[scope, self._prefix, DROP_PAGE])) >= 0:
                    deleted += removed
            if route is None and tenant is None:
                await self._flush_side_keys()
        return deleted

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
            scopes = await self._redis.hlen(self._registry)
            await self._recheck_incidents()
        return {"backend": "redis", "host": self._url_host, "vector_type": "int8", "scopes": int(scopes),
                **self._incidents.health()}
