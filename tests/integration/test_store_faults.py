"""What the Redis stores do when what Redis holds under their names is not what they put there: the meta key
evicted or deleted (another embedder must not read the vectors), an index of an earlier version, another index
under INDEX_NAME or another key under a vector set's name while the gateway runs (a clean bypass, one error
line, `health` degraded, recovery once it is gone), and writes slower than the lookups' timeout."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import redis

from gateway.errors import StartupError, StoreError
from gateway.store.redis.entries import RedisEntries
from gateway.store.redis.query_engine import RedisStore
from gateway.store.redis.vector_sets import VectorSetStore
from tests.support.clients import PARAPHRASE, ask
from tests.support.redis_server import RedisServer
from tests.support.stores import DIM, REDIS_KINDS, TAGS, entry, redis_store, unit
from tests.support.traffic import wait_until

OTHER = TAGS.__class__(TAGS.model, TAGS.route, "tenant2", TAGS.context)


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, protocol=3)


async def _keys(store) -> list[str]:  # type: ignore[no-untyped-def]
    return [candidate.key for candidate in await store.search(TAGS, unit(1), k=5)]


async def _build(kind: str, url: str, name: str, embedder: str = "embedder-a") -> None:
    store = redis_store(kind, url, name)
    await store.open(dim=DIM, embedder=embedder)
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    await store.close()


async def _reopens_and_restores_the_meta_key(kind: str, url: str, name: str) -> None:
    again = redis_store(kind, url, name)
    await again.open(dim=DIM, embedder="embedder-a")
    assert await _keys(again) == ["a"]
    await again.close()
    with _raw(url) as client:
        assert client.hget(f"idx:{name}:meta", "embedder") == b"embedder-a"


# ======================================================================================================
# Item 10: the guard against mixing embedders survives the meta key
# ======================================================================================================


@pytest.mark.parametrize("kind", REDIS_KINDS)
async def test_without_its_meta_key_a_cache_still_refuses_another_embedder(redis_server, kind: str) -> None:
    name = _name()
    await _build(kind, redis_server.url, name)
    with _raw(redis_server.url) as client:
        assert client.delete(f"idx:{name}:meta") == 1
    other = redis_store(kind, redis_server.url, name)
    with pytest.raises(StartupError, match=r"Drop it .*INDEX_NAME"):
        await other.open(dim=DIM, embedder="embedder-b")  # same dimension: only the name tells them apart
    await other.close()
    await _reopens_and_restores_the_meta_key(kind, redis_server.url, name)


async def test_vector_sets_of_another_embedder_are_never_searched_even_with_no_record_left(redis_server) -> None:
    name = _name()
    await _build("redis-int8", redis_server.url, name)
    with _raw(redis_server.url) as client:  # everything that says whose the cache is
        assert client.delete(f"idx:{name}:meta", f"{name}:scopes") == 2
    other = redis_store("redis-int8", redis_server.url, name)
    await other.open(dim=DIM, embedder="embedder-b")
    assert await _keys(other) == []  # embedder-a's vector for the very same scope and direction is not found
    await other.write(entry("b", unit(1)), ttl_ms=60_000)
    assert await _keys(other) == ["b"]
    await other.close()


@pytest.fixture
def evicting_redis() -> Iterator[RedisServer]:
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("TEST_REDIS_URL is set: this test starts its own Redis")
    with RedisServer(extra_args=["--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "10"]) as server:
        yield server


@pytest.mark.parametrize("kind", ["redis", "redis-int8"])
async def test_an_evicted_meta_key_still_refuses_another_embedder(evicting_redis, kind: str) -> None:
    name = _name()
    url = evicting_redis.url
    await _build(kind, url, name)
    with _raw(url) as client:
        ours = list(client.scan_iter(f"{name}:*"))  # what lookups use: entry hash, or vector set and registry
        # Redis' LRU clock counts seconds and eviction samples keys, so the idle times are tiered a whole clock
        # step apart: the meta key idlest, then the junk, while what lookups use is touched; otherwise the meta
        # key can be the last idle key left, and what frees it frees ours too.
        time.sleep(2.1)
        with client.pipeline(transaction=False) as pipe:
            for number in range(48):
                pipe.set(f"junk:{number}", b"x" * 65_536)
            pipe.execute()
        client.touch(*ours)
        time.sleep(2.1)
        for _ in range(100):
            client.touch(*ours)
            client.config_set("maxmemory", int(client.info("memory")["used_memory"]) - 65_536)
            if not client.exists(f"idx:{name}:meta"):
                break
        assert not client.exists(f"idx:{name}:meta"), "allkeys-lru never evicted the meta key"
        assert client.info("stats")["evicted_keys"] > 0 and client.exists(*ours) == len(ours)
        client.config_set("maxmemory", 0)
    other = redis_store(kind, url, name)
    with pytest.raises(StartupError, match=r"Drop it .*INDEX_NAME"):
        await other.open(dim=DIM, embedder="embedder-b")
    await other.close()
    await _reopens_and_restores_the_meta_key(kind, url, name)


def _earlier_index(url: str, name: str, *, meta: bool) -> None:
    """The index and entry as the version before the embedder fingerprint built them."""
    tag = ("TAG", "SEPARATOR", "\x1f", "CASESENSITIVE")
    with _raw(url) as client:
        client.execute_command("FT.CREATE", f"idx:{name}", "ON", "HASH", "PREFIX", "1", f"{name}:", "SCHEMA",
                               "prompt", "TEXT", "model", *tag, "route", *tag, "user", *tag, "ctx", *tag,
                               "embedding", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(DIM),
                               "DISTANCE_METRIC", "COSINE")
        client.hset(f"{name}:a", mapping={"prompt": "prompt a", "model": TAGS.model, "route": TAGS.route,
                                          "user": TAGS.tenant, "ctx": TAGS.context, "ttl_ms": 60_000,
                                          "embedding": unit(1).tobytes(), "resp": b"answer"})
        if meta:
            client.hset(f"idx:{name}:meta", mapping={"embedder": "embedder-a", "dim": DIM, "vector_type": "float32"})


async def test_an_earlier_versions_index_is_rebuilt_when_its_meta_key_proves_it_ours(redis_server) -> None:
    name = _name()
    _earlier_index(redis_server.url, name, meta=True)
    other = redis_store("redis", redis_server.url, name)
    with pytest.raises(StartupError, match="embedder-a"):
        await other.open(dim=DIM, embedder="embedder-b")
    await other.close()
    store = redis_store("redis", redis_server.url, name)
    await store.open(dim=DIM, embedder="embedder-a")
    deadline = time.monotonic() + 5
    while await _keys(store) != ["a"]:  # Redis indexes the entries again in the background
        assert time.monotonic() < deadline, "the rebuilt index never found the entry"
        await asyncio.sleep(0.05)
    await store.close()
    with _raw(redis_server.url) as client:
        vector = client.execute_command("FT.INFO", f"idx:{name}")[b"attributes"][-1]
    assert vector[b"identifier"] == b"embedding" and vector[b"attribute"].startswith(b"v_")


async def test_an_earlier_versions_index_without_its_meta_key_is_refused(redis_server) -> None:
    name = _name()
    _earlier_index(redis_server.url, name, meta=False)
    for embedder in ("embedder-a", "embedder-b"):  # nothing says which one built it
        store = redis_store("redis", redis_server.url, name)
        with pytest.raises(StartupError, match=r"named 'embedding'.*FT\.DROPINDEX"):
            await store.open(dim=DIM, embedder=embedder)
        await store.close()


# ======================================================================================================
# Item 11: another index, or another key, under the store's names while it runs
# ======================================================================================================


def _replace_index(url: str, name: str, *, dim: int, prefix: str) -> None:
    """Another application's index under our INDEX_NAME, with a document of its own."""
    with _raw(url) as client:
        client.execute_command("FT.DROPINDEX", f"idx:{name}")
        client.execute_command("FT.CREATE", f"idx:{name}", "ON", "HASH", "PREFIX", "1", prefix, "SCHEMA",
                               "embedding", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(dim),
                               "DISTANCE_METRIC", "COSINE")
        client.hset(f"{prefix}doc", mapping={"embedding": np.ones(dim, dtype=np.float32).tobytes()})


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "latency_slayer.store" and record.levelno >= logging.ERROR]


@pytest.mark.parametrize(("dim", "prefix"), [(DIM * 2, None), (DIM, "elsewhere:")])
async def test_a_foreign_index_under_our_name_is_bypassed_reported_once_and_replaced_when_gone(
        redis_server, caplog: pytest.LogCaptureFixture, dim: int, prefix: str | None) -> None:
    name = _name()
    foreign_prefix = prefix or f"{name}:"
    store = RedisStore(redis_server.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000, verify_secs=0.1)
    await store.open(dim=DIM, embedder="test-embedder")
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    _replace_index(redis_server.url, name, dim=dim, prefix=foreign_prefix)
    caplog.set_level(logging.INFO, logger="latency_slayer.store")
    for _ in range(8):  # several periodic checks: one incident, found by them alone
        assert await _keys(store) == []
        await asyncio.sleep(0.05)
    assert len(_errors(caplog)) == 1, _errors(caplog)
    state = await store.health()
    assert state["ok"] is False and f"idx:{name}" in state["error"] and "FT.DROPINDEX" in state["error"]
    assert len(_errors(caplog)) == 1, _errors(caplog)
    await store.write(entry("b", unit(1, 0.1)), ttl_ms=60_000)  # the exact layer goes on
    assert await store.read_answer("b", refresh=False) == b"answer"
    with pytest.raises(StoreError, match="nothing flushed"):
        await store.flush()  # its keys come from the index, which is not ours
    with _raw(redis_server.url) as client:
        assert client.exists(f"{foreign_prefix}doc") == 1
        client.execute_command("FT.DROPINDEX", f"idx:{name}", "DD")
    deadline = time.monotonic() + 5
    while await _keys(store) != ["a", "b"]:  # our own index again, with what was written meanwhile
        assert time.monotonic() < deadline, "the store never recreated its index"
        await asyncio.sleep(0.05)
    state = await store.health()
    assert "ok" not in state and state["documents"] == 2
    assert len(_errors(caplog)) == 1 and any("own again" in record.getMessage() for record in caplog.records)
    await store.close()


def test_healthz_says_degraded_while_a_foreign_index_holds_the_name(make_gateway, redis_server) -> None:
    gateway = make_gateway("redis")
    assert ask(gateway)[0] == "miss" and ask(gateway, PARAPHRASE)[0] == "hit"
    name = gateway.settings.index_name
    with _raw(redis_server.url) as client:
        client.execute_command("FT.DROPINDEX", name)
        client.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", gateway.settings.key_prefix,
                               "SCHEMA", "embedding", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", "16",
                               "DISTANCE_METRIC", "COSINE")
    def health() -> dict:
        return httpx.get(f"{gateway.url}/healthz").json()

    assert wait_until(lambda: health()["status"] == "degraded", timeout=5)  # /healthz asks the store once a second
    assert name in health()["store"]["error"]
    assert ask(gateway)[0] == "hit"  # the exact layer is untouched
    assert ask(gateway, "How could I reset my password?")[0] == "miss"  # no semantic layer, and no error
    with _raw(redis_server.url) as client:
        client.execute_command("FT.DROPINDEX", name)
    assert wait_until(lambda: health()["status"] == "ok", timeout=5)  # the check recreates the index


def _vector_set_of(url: str, name: str, element: str) -> str:
    with _raw(url) as client:
        return next(key.decode() for key in client.scan_iter(f"{name}:vset:*")
                    if client.execute_command("VISMEMBER", key, element))


@pytest.mark.parametrize("foreign", ["string", "vector set of another size"])
async def test_a_foreign_key_under_a_vector_set_name_bypasses_that_scope_alone(
        redis_server, caplog: pytest.LogCaptureFixture, foreign: str) -> None:
    name = _name()
    store = redis_store("redis-int8", redis_server.url, name)
    await store.open(dim=DIM, embedder="test-embedder")
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    await store.write(entry("o", unit(1), tags=OTHER), ttl_ms=60_000)
    key = _vector_set_of(redis_server.url, name, "a")
    with _raw(redis_server.url) as client:
        client.delete(key)
        if foreign == "string":
            client.set(key, "someone else's")
        else:
            client.execute_command("VADD", key, "FP32", np.ones(DIM // 2, dtype=np.float32).tobytes(), "x")
    caplog.set_level(logging.INFO, logger="latency_slayer.store")
    for _ in range(3):
        assert await _keys(store) == []
        await store.write(entry("a2", unit(1)), ttl_ms=60_000)  # not stored, not an error
    assert [candidate.key for candidate in await store.search(OTHER, unit(1), k=5)] == ["o"]
    assert await store.read_answer("a", refresh=False) == b"answer"
    state = await store.health()
    assert state["ok"] is False and key in state["error"]
    assert len(_errors(caplog)) == 1, _errors(caplog)
    with _raw(redis_server.url) as client:
        client.delete(key)
    assert "ok" not in await store.health()
    await store.write(entry("a3", unit(1)), ttl_ms=60_000)
    assert await _keys(store) == ["a3"]
    await store.close()


# ======================================================================================================
# Writes on their own connections
# ======================================================================================================


@pytest.mark.parametrize("kind", REDIS_KINDS)
async def test_a_write_slower_than_the_lookup_timeout_succeeds_while_lookups_go_on(redis_server, kind: str) -> None:
    name = _name()
    store: RedisEntries
    if kind == "redis-int8":
        store = VectorSetStore(redis_server.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=150)
    else:
        store = RedisStore(redis_server.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=150,
                           vector_type="float16" if kind == "redis-float16" else "float32")
    await store.open(dim=DIM, embedder="test-embedder")
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    await store.put_blob("blob", b"kept", ttl_ms=60_000)
    with _raw(redis_server.url) as client:
        client.execute_command("CLIENT", "PAUSE", "800", "WRITE")  # every write waits, reads go on
    started = time.monotonic()
    writes = asyncio.gather(store.write(entry("big", unit(0, 1), answer=b"x" * 4_000_000), ttl_ms=60_000),
                            store.put_blob("other", b"y", ttl_ms=60_000), store.bump("q", ttl_ms=60_000))
    lookups = 0
    while not writes.done():
        # A lookup waiting behind the paused writes would time out (150 ms) and raise here.
        assert (await _keys(store))[0] == "a"
        assert await store.get_blob("blob") == b"kept" and await store.describe("a") == TAGS
        lookups += 1
        await asyncio.sleep(0.02)
    await writes  # raises if any write timed out
    assert time.monotonic() - started >= 0.6 and lookups >= 10
    assert await store.read_answer("big", refresh=False) == b"x" * 4_000_000
    await store.close()
