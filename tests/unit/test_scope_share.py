"""The Query Engine store walks the HNSW graph in batches for a scope that holds most of a small index, and
leaves the choice to RediSearch otherwise: the rule on tables, its memory on a scripted clock, and the commands a
real Redis 8 receives."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import numpy as np
import pytest
import redis

from gateway.store.base import Entry, Tags
from gateway.store.redis.entries import SEARCH_EF
from gateway.store.redis.query_engine import RedisStore, knn_query
from gateway.store.redis.scope_share import (
    COUNT_BELOW,
    KEYS_PER_ENTRY,
    RECOUNT_SECS,
    REMEMBERED,
    ScopeShares,
    prefers_batches,
    worth_counting,
)

BIG = Tags("gpt-4o-mini", "default", "tenant", "ctx-single-turn")
SMALL = Tags("gpt-4o-mini", "default", "tenant", "ctx-a-conversation")


@pytest.mark.parametrize(("scope", "index", "batches"), [
    (20_000, 20_000, True),  # one tenant, model and route: the case that was 4.5x slower
    (3_000, 3_000, True),
    (2_999, 2_999, False),  # small enough for brute force over the scope
    (6_000, 20_000, True),
    (5_999, 20_000, False),  # under 30 %: the graph walk would pass over too many others
    (10, 20_000, False),
    (0, 0, False),
])
def test_batches_for_a_big_share_of_the_index(scope: int, index: int, batches: bool) -> None:
    assert prefers_batches(scope, index) is batches


@pytest.mark.parametrize(("batches", "clause"), [(True, " HYBRID_POLICY BATCHES AS distance]"),
                                                 (False, f" EF_RUNTIME {SEARCH_EF} AS distance]")])
def test_the_knn_query_names_the_plan(batches: bool, clause: str) -> None:
    query, params = knn_query(BIG, 4, batches=batches)
    assert query.endswith(clause) and params[-2:] == ["ctx", BIG.context]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sizes_are_claimed_once_learnt_then_recounted_after_a_while() -> None:
    clock = Clock()
    shares = ScopeShares(clock)
    assert not shares.claim_count(BIG)  # the index's size first: counting a big one's scopes would cost
    assert shares.claim_index_size() and not shares.claim_index_size()  # claimed: concurrent lookups ask once
    assert not shares.batches(BIG)
    shares.learn_index_size(20_000)
    assert shares.claim_count(BIG) and not shares.claim_count(BIG)
    assert shares.claim_count(SMALL)
    shares.learn_count(BIG, 20_000)
    shares.learn_count(SMALL, 12)
    assert shares.batches(BIG) and not shares.batches(SMALL)
    clock.now += RECOUNT_SECS - 1
    assert not shares.claim_index_size() and not shares.claim_count(BIG)
    clock.now += 1
    assert shares.claim_index_size() and shares.claim_count(BIG)
    assert shares.batches(BIG)  # the last count serves until the next one is learnt


def test_a_big_index_is_left_to_redisearch_and_its_scopes_never_counted() -> None:
    shares = ScopeShares(Clock())
    shares.learn_index_size(100)
    assert shares.claim_count(BIG)
    shares.learn_count(BIG, 5_000)
    shares.learn_index_size(COUNT_BELOW)
    assert not shares.claim_count(SMALL) and not shares.batches(BIG)


@pytest.mark.parametrize(("keys", "counted"), [(0, True), (KEYS_PER_ENTRY * COUNT_BELOW - 1, True),
                                               (KEYS_PER_ENTRY * COUNT_BELOW, False)])
def test_a_redis_with_many_keys_is_taken_for_a_big_index_uncounted(keys: int, counted: bool) -> None:
    assert worth_counting(keys) is counted


def test_only_the_most_recent_scopes_are_remembered() -> None:
    shares = ScopeShares(Clock())
    shares.learn_index_size(10_000)
    shares.learn_count(BIG, 10_000)
    for n in range(REMEMBERED):
        shares.learn_count(Tags("m", "r", "u", f"conversation-{n}"), 1)
    assert not shares.batches(BIG) and shares.claim_count(BIG)


class Monitor:
    """Every FT.SEARCH a real Redis receives, read from MONITOR on its own connection."""

    def __init__(self, url: str, index: str) -> None:
        self.searches: list[str] = []
        self._index = index
        self._client = redis.Redis.from_url(url)
        self._monitor = self._client.monitor().__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                command = self._monitor.next_command()["command"]
                if command.startswith(f"FT.SEARCH {self._index} "):
                    self.searches.append(command)
        except (redis.ConnectionError, ValueError, OSError):
            return

    def wait_for(self, searches: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.searches) < searches:
            assert time.monotonic() < deadline, f"MONITOR saw {len(self.searches)} of {searches}: {self.searches}"
            time.sleep(0.01)

    def close(self) -> None:
        self._client.close()
        self._monitor.connection.disconnect()


async def _one_scope_store(url: str) -> tuple[RedisStore, str, np.ndarray]:
    """3,000 entries in BIG and 20 in SMALL: BIG holds nearly all of a small index."""
    name = f"share-{uuid.uuid4().hex[:8]}"
    store = RedisStore(url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    await store.open(dim=8, embedder="test-embedder")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3_020, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await store.write_many([Entry(f"k{n}", BIG if n < 3_000 else SMALL, f"prompt {n}", vectors[n], b"answer")
                            for n in range(3_020)], ttl_ms=60_000)
    return store, f"idx:{name}", vectors


def _knn(searches: list[str], scope: Tags) -> list[str]:
    return [command for command in searches if "KNN" in command and scope.context in command]


async def test_a_single_scope_index_is_searched_in_batches(redis_server) -> None:  # type: ignore[no-untyped-def]
    store, index, vectors = await _one_scope_store(redis_server.url)
    monitor = Monitor(redis_server.url, index)
    try:
        found = {}
        for _ in range(40):  # the sizes are learnt off the lookups' path: a few lookups later, batches
            for tags, probe in ((BIG, vectors[7]), (SMALL, vectors[3_007])):
                found[tags] = [candidate.key for candidate in await store.search(tags, probe, 2)]
            await asyncio.sleep(0.02)
            if any("HYBRID_POLICY BATCHES" in command for command in _knn(monitor.searches, BIG)):
                break
        monitor.wait_for(1)
    finally:
        await store.close()
        monitor.close()
    assert (found[BIG][0], found[SMALL][0]) == ("k7", "k3007")  # the same neighbours either way
    big, small = _knn(monitor.searches, BIG), _knn(monitor.searches, SMALL)
    assert "HYBRID_POLICY BATCHES" not in big[0] and "HYBRID_POLICY BATCHES" in big[-1], big
    assert not any("HYBRID_POLICY" in command for command in small), small
    counts = [command for command in monitor.searches if "KNN" not in command]
    # the index once, then each scope once, within the recount period
    assert len(counts) == 3 and sum(BIG.context in c for c in counts) == sum(SMALL.context in c for c in counts) == 1


async def test_concurrent_first_lookups_ask_for_each_size_once(redis_server) -> None:  # type: ignore[no-untyped-def]
    store, index, vectors = await _one_scope_store(redis_server.url)
    monitor = Monitor(redis_server.url, index)
    try:
        for _ in range(3):
            await asyncio.gather(*(store.search(BIG, vectors[n], 2) for n in range(32)))
            await asyncio.sleep(0.2)  # the sizes asked for by the first round are learnt
        monitor.wait_for(3 * 32 + 2)
    finally:
        await store.close()
        monitor.close()
    counts = [command for command in monitor.searches if "KNN" not in command]
    assert len(counts) == 2, counts  # the index's size, then BIG's: not once per concurrent lookup
    assert sum("HYBRID_POLICY BATCHES" in command for command in _knn(monitor.searches, BIG)) >= 32
