"""The gateway on a Redis Cluster of 3 masters and 3 replicas (`REDIS_URL=redis+cluster://...`, vector sets):
served hits, int8 or unquantised float32, tenants apart, flushes by route and tenant on every shard, single-flight
across two gateways, the metrics stream and health, a cluster that cannot be reached is a bypass, `serve` refuses
float16 there, and a cache of another quantisation is refused (the store behaviour suite runs on the cluster too)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster as AdminCluster

from gateway.errors import StartupError
from gateway.flight.flight import LocalFlights
from gateway.store.base import Entry, Tags
from gateway.store.redis.flights import POOL_SIZE, RedisFlights
from gateway.store.redis.vector_sets import VectorSetStore
from gateway.wire.canonical import digest, shard_of
from tests.support import flights
from tests.support.clients import PARAPHRASE, PROMPT, ask
from tests.support.events import events_of
from tests.support.flights import N, shared_gateways, states, stream, together
from tests.support.processes import clean_env, cli
from tests.support.redis_server import free_port
from tests.support.stores import DIM, unit


@pytest.fixture
def cluster_gateway(make_gateway, redis_cluster):
    """`cluster_gateway(**env)`: a served gateway whose cache, flights and metrics are on the cluster."""
    def make(**env: str):
        return make_gateway("redis", REDIS_URL=redis_cluster.url, VECTOR_TYPE="int8", **env)

    return make


def masters_holding(redis_cluster, pattern: str) -> Counter[int]:
    """How many keys matching `pattern` each master holds (by port)."""
    held: Counter[int] = Counter()
    for node in redis_cluster.masters:
        with redis.Redis(port=node.port) as client:
            held[node.port] = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
    return held


def test_a_gateway_on_the_cluster_serves_exact_and_semantic_hits_and_keeps_tenants_apart(
        cluster_gateway, fake_upstream, redis_cluster) -> None:
    gateway = cluster_gateway(METRICS_STREAM=f"events:{uuid.uuid4().hex[:10]}")
    answers = [ask(gateway), ask(gateway), ask(gateway, PARAPHRASE), ask(gateway, PARAPHRASE, key="sk-client-two")]
    assert [(state, headers.get("x-cache-layer")) for state, headers, _ in answers] == [
        ("miss", None), ("hit", "exact"), ("hit", "semantic"), ("miss", None)]  # another tenant, another scope
    assert len({completion.choices[0].message.content for _, _, completion in answers[:3]}) == 1
    assert fake_upstream.calls() == 2
    assert [event.outcome for event in events_of(gateway)] == ["miss", "hit", "hit", "miss"]  # the metrics stream
    prefix = gateway.settings.key_prefix
    vector_sets = sum(masters_holding(redis_cluster, f"{prefix}vset:{{*}}*").values())
    assert vector_sets == 2  # one per tenant, each named with its shard's hash tag
    store = httpx.get(f"{gateway.url}/healthz").json()["store"]
    assert store["ok"] is True and store["masters"] == 3 and store["keys"] > 0


def test_float32_on_the_cluster_keeps_vectors_unquantised(make_gateway, fake_upstream, redis_cluster) -> None:
    """`VECTOR_TYPE=float32` on a cluster: vector sets without quantisation, so a paraphrase is exactly as far as
    the in-process store finds it (int8 would be some 1e-4 off)."""
    gateway = make_gateway("redis", REDIS_URL=redis_cluster.url, VECTOR_TYPE="float32",
                           METRICS_STREAM=f"events:{uuid.uuid4().hex[:10]}")
    in_process = make_gateway("memory")
    distances = []
    for served in (gateway, in_process):
        answers = [ask(served), ask(served), ask(served, PARAPHRASE)]
        assert [(state, headers.get("x-cache-layer")) for state, headers, _ in answers] == [
            ("miss", None), ("hit", "exact"), ("hit", "semantic")]
        distances.append((answers[2][1]["x-cache-distance"], events_of(served)[2].distance))
    (header, recorded), (expected_header, expected) = distances
    assert header == expected_header and recorded == pytest.approx(expected, abs=1e-5)  # the stream keeps 5 places
    assert fake_upstream.calls() == 2
    prefix = gateway.settings.key_prefix
    for node in redis_cluster.masters:
        with redis.Redis(port=node.port, protocol=3) as client:
            for vectors in client.scan_iter(match=f"{prefix}vset:{{*}}*", count=1000):
                assert client.execute_command("VINFO", vectors)[b"quant-type"] == b"f32"
    assert httpx.get(f"{gateway.url}/healthz").json()["store"]["vector_type"] == "float32"


def _entry(tenant: str, route: str, scope: int) -> Entry:
    """An entry as the gateway writes one: its id starts with its scope's shard."""
    tags = Tags("gpt-4o-mini", route, tenant, digest(tenant.encode(), route.encode(), str(scope).encode()))
    key = shard_of(tags.context) + digest(tags.context.encode())[4:]
    return Entry(key=key, tags=tags, prompt="prompt", vector=unit(1, scope / 10), answer=b"answer")


async def test_tenants_never_cross_and_flushes_reach_every_shard(redis_cluster) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    store = VectorSetStore(redis_cluster.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    await store.open(dim=DIM, embedder="test-embedder")
    entries = [_entry(tenant, route, scope) for tenant in ("alice", "bob") for route in ("default", "support")
               for scope in range(6)]
    await store.write_many(entries, ttl_ms=60_000)
    held = masters_holding(redis_cluster, f"{name}:{{*}}*")
    assert sum(held.values()) == len(entries) and all(held.values()), held  # entries on every master
    for written in entries:
        found = await store.search(written.tags, np.asarray(written.vector), k=10)
        assert [candidate.key for candidate in found] == [written.key]  # its scope only: no other tenant's
    assert await store.flush(tenant="bob") == 12
    assert await store.flush(route="support") == 6
    for written in entries:
        kept = written.tags.tenant == "alice" and written.tags.route == "default"
        assert (await store.read_answer(written.key, refresh=False) is not None) == kept
        assert (await store.describe(written.key) is not None) == kept
    assert await store.flush() == 6
    assert sum(masters_holding(redis_cluster, f"{name}:*").values()) == 0
    health = await store.health()
    assert health["masters"] == 3 and health["keys"] == sum(masters_holding(redis_cluster, "*").values())
    await store.close()


async def test_a_cluster_cache_of_another_embedder_is_refused_even_without_its_meta_key(redis_cluster) -> None:
    """The scope registries, on whichever masters they are, name the embedder when the meta key is gone."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = VectorSetStore(redis_cluster.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    await first.open(dim=DIM, embedder="test-embedder")
    await first.write_many([_entry("alice", "default", scope) for scope in range(6)], ttl_ms=60_000)
    await first._writer.delete(f"idx:{name}:meta")
    await first.close()
    second = VectorSetStore(redis_cluster.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    with pytest.raises(StartupError, match="another embedder"):
        await second.open(dim=DIM, embedder="another-embedder")
    await second.open(dim=DIM, embedder="test-embedder")  # its own embedder opens it, and records it again
    assert await second._writer.exists(f"idx:{name}:meta") == 1
    await second.close()


@pytest.mark.parametrize("streamed", [False, True])
def test_identical_misses_across_gateways_on_the_cluster_make_one_upstream_call(
        make_gateway, fake_upstream, redis_cluster, streamed: bool) -> None:
    one, two = shared_gateways(make_gateway, 2, REDIS_URL=redis_cluster.url, VECTOR_TYPE="int8")
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.05
    call = stream if streamed else flights.ask
    results = together([lambda: call(one), lambda: call(two)] * (N // 2))
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == 1
    assert states(results) == [("hit", "flight")] * (N - 1) + [("miss", None)]


def test_a_flights_keys_share_one_slot(make_gateway, fake_upstream, redis_cluster) -> None:
    one, two = shared_gateways(make_gateway, 2, REDIS_URL=redis_cluster.url, VECTOR_TYPE="int8")
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.05
    together([lambda: stream(one), lambda: stream(two)])
    admin = AdminCluster(host="127.0.0.1", port=redis_cluster.masters[0].port)
    try:
        keys = [key for key in admin.scan_iter(match=f"{one.settings.key_prefix}flight:*")]
        assert keys and len({admin.keyslot(key) for key in keys}) == 1  # the stream and its follower count
    finally:
        admin.close()


async def test_a_burst_of_elections_on_the_cluster_gets_every_answer(redis_cluster) -> None:
    """More elections at once than a single node's pool holds: a cluster client's pool would refuse them."""
    flights = RedisFlights(redis_cluster.url, prefix=f"test-{uuid.uuid4().hex[:8]}:", timeout_ms=2000, ttl_secs=5,
                           tasks=LocalFlights())
    keys = [f"k{index}" for index in range(6 * POOL_SIZE)]  # ~2 pools' worth per master
    first = await asyncio.gather(*(flights.claim(key) for key in keys))
    again = await asyncio.gather(*(flights.claim(key) for key in keys))
    assert all(ours for _, ours in first) and not any(ours for _, ours in again)
    assert [ident for ident, _ in again] == [ident for ident, _ in first]  # each key's leader, told to the others
    await flights.close()


def test_a_cluster_out_of_reach_is_a_bypass(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("redis", REDIS_URL=f"redis+cluster://127.0.0.1:{free_port()}", VECTOR_TYPE="int8")
    for _ in range(2):
        state, _, completion = ask(gateway, PROMPT)
        assert state == "bypass" and completion.choices[0].message.content
    assert fake_upstream.calls() == 2


def test_serve_refuses_float16_on_a_cluster_naming_the_alternatives(tmp_path: Path) -> None:
    env = clean_env(REDIS_URL=f"redis+cluster://127.0.0.1:{free_port()}", VECTOR_TYPE="float16")
    process = cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert len(stderr.strip().splitlines()) == 1 and "set VECTOR_TYPE=int8 or float32" in stderr


@pytest.mark.parametrize("meta_key", ["kept", "gone"])
async def test_a_cluster_cache_of_another_quantisation_is_refused(redis_cluster, meta_key: str) -> None:
    """int8 and float32 vector sets never mix: the meta key, or without it the scope registries, name the
    quantisation the cache was built with, so the other one stops at start-up rather than at its first VADD."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    for built, other in (("int8", "float32"), ("float32", "int8")):
        first = VectorSetStore(redis_cluster.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000,
                               vector_type=built)
        await first.open(dim=DIM, embedder="test-embedder")
        await first.write_many([_entry("alice", "default", scope) for scope in range(6)], ttl_ms=60_000)
        if meta_key == "gone":
            await first._writer.delete(f"idx:{name}:meta")
        await first.close()
        second = VectorSetStore(redis_cluster.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000,
                                vector_type=other)
        found = f"{DIM}-d {built} vectors" if meta_key == "kept" else "another embedder or vector type"
        with pytest.raises(StartupError, match=rf"{found}.*this gateway stores {DIM}-d {other} .*--scan --pattern"):
            await second.open(dim=DIM, embedder="test-embedder")
        await first.open(dim=DIM, embedder="test-embedder")  # its own quantisation opens it
        assert await first.flush() == 6
        await first._writer.delete(f"idx:{name}:meta")
        await first.close()
