"""A Redis Cluster failover under load (#14): two gateway processes on a cluster of their own (3 masters, 3 replicas,
a short node timeout), client threads asking repeated prompts (hits) and new ones (misses, each asked on both
gateways at once, so one gateway follows the other's flight through Redis), while a master is SIGKILLed, or hung with
SIGSTOP. No request fails and every answer is its own prompt's; while the master's slots are down, requests bypass
the cache without waiting much longer than REDIS_TIMEOUT_MS; once its replica is promoted, both gateways serve hits
from those slots again, without a restart. Each run prints what the failover cost (README, "Scaling out").

Then the parts: a call to a hung master costs one timeout, and the same client finds the promoted replica; a
flight whose keys were on a killed master still gets its followers an answer within the lease; a cluster with a
password works, and a wrong password is a bypass."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from redis.crc import key_slot

from gateway.errors import StoreError
from gateway.store.redis.flights import BLOCK_MS, LEASE_MS
from gateway.store.redis.vector_sets import VectorSetStore
from tests.support import flights
from tests.support.clients import ask
from tests.support.cluster_load import REPEATED, Load, holding, owners
from tests.support.flights import shared_gateways
from tests.support.processes import clean_env, cli, wait_healthy
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer, free_port

TIMEOUT_MS = 250  # REDIS_TIMEOUT_MS, the default
UPSTREAM_SECS = 0.05
NODE_TIMEOUT_MS = 1000
RUN_SECS = 20.0  # at most, from the failure to hits on its slots on both gateways
CLUSTER_DOWN_SECS = 0.25  # redis-py's fixed pause on a CLUSTERDOWN, before it refreshes the slot map
# A Redis command on the failed master gives up after REDIS_TIMEOUT_MS (or a CLUSTERDOWN pause), and the outage
# guard then bypasses the store: a request waits for at most a few such calls (lookup, election, ...). Generous:
# the machine is shared.
REQUEST_BOUND_SECS = 4 * TIMEOUT_MS / 1000 + CLUSTER_DOWN_SECS + 2 * UPSTREAM_SECS + 0.5
# A flight's follower reads its leader's stream through a Redis stall for as long as the lease lasts, each blocking
# read bounded by BLOCK_MS; then it goes upstream itself.
FOLLOWER_BOUND_SECS = (LEASE_MS + BLOCK_MS + 2 * TIMEOUT_MS) / 1000 + 2 * UPSTREAM_SECS + 0.5


@pytest.fixture
def own_cluster() -> Iterator[RedisCluster]:
    """A cluster of this test's own (it loses a master), failing over within about two seconds."""
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("TEST_REDIS_URL is set: the cluster tests start a cluster of their own")
    with RedisCluster(node_timeout_ms=NODE_TIMEOUT_MS) as cluster:
        yield cluster


@pytest.fixture
def two_gateways(own_cluster: RedisCluster, fake_upstream, tmp_path: Path) -> Iterator[list[str]]:
    """Two `python -m gateway serve` processes on the cluster: replicas of one deployment."""
    fake_upstream.latency = UPSTREAM_SECS
    env = clean_env(UPSTREAM_BASE_URL=fake_upstream.base_url, OPENAI_API_KEY="sk-upstream", LOG_LEVEL="warning",
                    REDIS_URL=own_cluster.url, VECTOR_TYPE="int8", EMBED_PROVIDER="openai", EMBED_DIM="64",
                    REDIS_TIMEOUT_MS=str(TIMEOUT_MS), STORE_RETRY_SECS="0.2", METRICS_STREAM="events:failover")
    ports = [free_port(), free_port()]
    processes = [cli("serve", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.communicate(timeout=30)


def warm(load: Load, cluster: RedisCluster) -> tuple[int, set[int]]:
    """Cache the repeated prompts; the master holding most of them, and their slots."""
    with httpx.Client(headers={"authorization": "Bearer sk-client-one"}, timeout=30) as client:
        for scope, prompt in REPEATED:
            load.ask(0, scope, prompt, client)
        hits = [load.ask(gateway, scope, prompt, client) for scope, prompt in REPEATED for gateway in (0, 1)]
    assert all(call.state == "hit" and call.slot is not None for call in hits), hits
    served = owners(cluster)
    by_master: dict[int, set[int]] = {}
    for call in hits:
        by_master.setdefault(served[call.slot], set()).add(call.slot)
    victim = max(by_master, key=lambda port: len(by_master[port]))
    return victim, by_master[victim]


def fail_over(cluster: RedisCluster, urls: list[str], fail: Callable[[RedisServer], None]) -> None:
    load = Load(urls)
    victim, slots = warm(load, cluster)
    load.calls.clear()
    load.start()
    time.sleep(1.0)  # steady traffic first
    failed_at = time.monotonic()
    fail(next(node for node in cluster.masters if node.port == victim))
    promoted_at = resumed_at = None
    while time.monotonic() < failed_at + RUN_SECS:
        if promoted_at is None and owners(cluster, victim)[next(iter(slots))] != victim:
            promoted_at = time.monotonic()
        resumed = {call.gateway for call in list(load.calls) if call.started > failed_at and call.slot in slots}
        if promoted_at is not None and resumed == {0, 1}:
            resumed_at = time.monotonic()
            break
        time.sleep(0.05)
    time.sleep(1.5)  # flights again, on both gateways
    load.stop()
    calls = [call for call in load.calls if call.started >= failed_at]
    followers = [call for call in calls if call.layer == "flight"]
    others = [call for call in calls if call.layer != "flight"]
    bypasses = [call.ended - failed_at for call in calls if call.state == "bypass"]

    def after(moment: float | None) -> str:
        return f"{moment - failed_at:.2f} s" if moment is not None else "never"

    print(f"\n{fail.__name__}: {len(load.calls)} requests, {len(followers)} flight followers, {len(bypasses)} "
          f"bypasses; first bypass {min(bypasses, default=float('nan')) * 1000:.0f} ms after it; longest request "
          f"{max(call.ended - call.started for call in others) * 1000:.0f} ms (a follower "
          f"{max((call.ended - call.started for call in followers), default=0) * 1000:.0f} ms); replica promoted "
          f"after {after(promoted_at)}; hits on its slots on both gateways after {after(resumed_at)}")
    failed = [call for call in load.calls if call.error]
    assert not failed, failed[:5]  # no request failed, none got another prompt's answer
    assert bypasses, "no request bypassed the cache while a master was down"
    assert followers, "no flight was followed across gateways"
    slow = [call for call in others if call.ended - call.started > REQUEST_BOUND_SECS] + \
        [call for call in followers if call.ended - call.started > FOLLOWER_BOUND_SECS]
    assert not slow, [(call.state, call.layer, round(call.ended - call.started, 2)) for call in slow]
    assert promoted_at is not None, "the replica was not promoted"
    assert resumed_at is not None, "no hits on the failed master's slots on both gateways after its promotion"


def kill(node: RedisServer) -> None:
    node.kill()


def test_killing_a_master_under_load_fails_no_request_and_hits_resume_after_promotion(
        own_cluster: RedisCluster, two_gateways: list[str]) -> None:
    fail_over(own_cluster, two_gateways, kill)


def test_hanging_a_master_under_load_fails_no_request_and_hits_resume_after_promotion(
        own_cluster: RedisCluster, two_gateways: list[str]) -> None:
    stopped: list = []

    def hang(node: RedisServer) -> None:
        os.kill(node.pid, signal.SIGSTOP)
        stopped.append(node)

    try:
        fail_over(own_cluster, two_gateways, hang)
    finally:
        for node in stopped:
            os.kill(node.pid, signal.SIGCONT)


async def test_a_call_to_a_hung_master_waits_one_timeout_and_the_client_learns_the_promotion(
        own_cluster: RedisCluster) -> None:
    """redis-py's cluster client would try the hung master again after its refresh: a timeout per attempt."""
    timeout_ms = 1000  # long enough that a second attempt could not hide in the slack
    store = VectorSetStore(own_cluster.url, index="idx:hung", prefix="hung:", timeout_ms=timeout_ms)
    await store.open(dim=4, embedder="test-embedder")
    victim = own_cluster.masters[0]
    key = next(f"k{index}" for index in range(1000) if owners(own_cluster)[key_slot(f"hung:blob:k{index}".encode())]
               == victim.port)
    await store.put_blob(key, b"kept", ttl_ms=60_000)
    with redis.Redis(port=victim.port) as master:
        assert master.execute_command("WAIT", 1, 5000) == 1  # on its replica too
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="Timeout"):
            await store.get_blob(key)
        assert time.monotonic() - started < 1.6 * timeout_ms / 1000  # one attempt, not two
        deadline = time.monotonic() + RUN_SECS
        while True:  # the same client, once the replica took over
            with contextlib.suppress(StoreError):
                if await store.get_blob(key) == b"kept":
                    break
            assert time.monotonic() < deadline, "the client never found the promoted replica"
            await asyncio.sleep(0.1)
    finally:
        os.kill(victim.pid, signal.SIGCONT)
        await store.close()


def test_a_password_protected_cluster_serves_hits_and_a_wrong_password_is_a_bypass(make_gateway, fake_upstream) \
        -> None:
    with RedisCluster(replicas_each=0, password="s3cret-pass") as cluster:
        gateway = make_gateway("redis", REDIS_URL=cluster.url, VECTOR_TYPE="int8", METRICS_STREAM="events:auth")
        assert [ask(gateway)[0] for _ in range(2)] == ["miss", "hit"]
        wrong = cluster.url.replace("s3cret-pass", "wrong")
        refused = make_gateway("redis", REDIS_URL=wrong, VECTOR_TYPE="int8", METRICS_STREAM="events:auth")
        state, _, completion = ask(refused)
        assert state == "bypass" and completion.choices[0].message.content


def test_followers_of_a_flight_on_a_killed_master_get_its_answer_within_the_lease(
        own_cluster: RedisCluster, make_gateway, fake_upstream) -> None:
    leader_gateway, follower_gateway = shared_gateways(make_gateway, 2, REDIS_URL=own_cluster.url,
                                                       VECTOR_TYPE="int8", REDIS_TIMEOUT_MS=str(TIMEOUT_MS))
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.1  # the master dies while the leader streams
    results: dict[str, tuple] = {}
    threads = {name: threading.Thread(target=lambda name=name, gateway=gateway: results.__setitem__(
        name, (time.monotonic(), *flights.stream(gateway), time.monotonic())))
        for name, gateway in (("leader", leader_gateway), ("follower", follower_gateway))}
    threads["leader"].start()
    time.sleep(0.15)
    threads["follower"].start()
    pattern = f"{leader_gateway.settings.key_prefix}flight:*"
    deadline = time.monotonic() + 5
    while not (holders := holding(own_cluster, pattern)):  # the master of the flight's slot
        assert time.monotonic() < deadline, "no flight in Redis"
        time.sleep(0.02)
    time.sleep(0.2)  # the follower reads the leader's stream
    holders[0].kill()
    for thread in threads.values():
        thread.join(30)
    for name, (started, state, layer, chunks, _, _, ended) in results.items():
        text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
        assert re.fullmatch(rf"answer \d+ to: {re.escape(flights.PROMPT)}", text), (name, text)
        print(f"{name}: {state}/{layer} in {ended - started:.2f} s")
    started, state, layer, *_, ended = results["follower"]
    assert (state, layer) in {("hit", "flight"), ("miss", None)}
    assert ended - started < FOLLOWER_BOUND_SECS + 3  # and the stream's own second or so
