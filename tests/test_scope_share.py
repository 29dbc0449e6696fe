"""The Query Engine store walks the HNSW graph in batches for a scope that holds most of a small index, and
leaves the choice to RediSearch otherwise: the rule on tables, its memory on a scripted clock, and the commands a
real Redis 8 receives."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
import redis

from gateway.store.base import Entry, Tags
from gateway.store.redis_store import RedisStore, knn_query
from gateway.store.scope_share import COUNT_BELOW, RECOUNT_SECS, REMEMBERED, ScopeShares, prefers_batches

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
                                                 (False, " EF_RUNTIME 200 AS distance]")])
def test_the_knn_query_names_the_plan(batches: bool, clause: str) -> None:
    query, params = knn_query(BIG, 4, batches=batches)
    assert query.endswith(clause) and params[-2:] == ["ctx", BIG.context]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sizes_are_learnt_then_recounted_after_a_while() -> None:
    clock = Clock()
    shares = ScopeShares(clock)
    assert shares.needs_index_size() and not shares.needs_count(BIG)  # the index's size first: counting may cost
    assert not shares.batches(BIG)
    shares.learn_index_size(20_000)
    assert not shares.needs_index_size() and shares.needs_count(BIG)
    shares.learn_count(BIG, 20_000)
    shares.learn_count(SMALL, 12)
    assert shares.batches(BIG) and not shares.batches(SMALL)
    assert not shares.needs_count(BIG)
    clock.now += RECOUNT_SECS
    assert shares.needs_index_size() and shares.needs_count(BIG)
    assert shares.batches(BIG)  # a stale count still serves until the next one


def test_a_big_index_is_left_to_redisearch_and_never_counted() -> None:
    shares = ScopeShares(Clock())
    shares.learn_index_size(100)
    shares.learn_count(BIG, 5_000)
    shares.learn_index_size(COUNT_BELOW)
    assert not shares.needs_count(SMALL) and not shares.batches(BIG)


def test_only_the_most_recent_scopes_are_remembered() -> None:
    shares = ScopeShares(Clock())
    shares.learn_index_size(10_000)
    shares.learn_count(BIG, 10_000)
    for n in range(REMEMBERED):
        shares.learn_count(Tags("m", "r", "u", f"conversation-{n}"), 1)
    assert not shares.batches(BIG) and shares.needs_count(BIG)


class Monitor:
    """Every FT.SEARCH a real Redis receives, read from MONITOR on its own connection."""

    def __init__(self, url: str) -> None:
        self.searches: list[str] = []
        self._client = redis.Redis.from_url(url)
        self._monitor = self._client.monitor().__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                command = self._monitor.next_command()["command"]
                if command.startswith("FT.SEARCH"):
                    self.searches.append(command)
        except (redis.ConnectionError, ValueError, OSError):
            return

    def wait_for(self, searches: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.searches) < searches and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._client.close()
        self._monitor.connection.disconnect()


async def test_a_single_scope_index_is_searched_in_batches(redis_server) -> None:  # type: ignore[no-untyped-def]
    name = f"share-{uuid.uuid4().hex[:8]}"
    store = RedisStore(redis_server.url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    await store.open(dim=8, embedder="test-embedder")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3_020, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await store.write_many([Entry(f"k{n}", BIG if n < 3_000 else SMALL, f"prompt {n}", vectors[n], b"answer")
                            for n in range(3_020)], ttl_ms=60_000)
    monitor = Monitor(redis_server.url)
    try:
        found = {}
        for _ in range(3):  # learns the index's size, then each scope's, then uses them
            for tags, probe in ((BIG, vectors[7]), (SMALL, vectors[3_007])):
                found[tags] = [candidate.key for candidate in await store.search(tags, probe, 2)]
        await store.search(BIG, vectors[7], 2)
        monitor.wait_for(7 + 2)
    finally:
        monitor.close()
        await store.close()
    assert (found[BIG][0], found[SMALL][0]) == ("k7", "k3007")  # the same neighbours either way
    knn = [command for command in monitor.searches if "KNN" in command]
    big = [command for command in knn if BIG.context in command]
    small = [command for command in knn if SMALL.context in command]
    assert "HYBRID_POLICY BATCHES" not in big[0] and "HYBRID_POLICY BATCHES" in big[-1], big
    assert not any("HYBRID_POLICY" in command for command in small), small
    counts = [command for command in monitor.searches if "KNN" not in command]
    assert len(counts) == 2, counts  # each scope counted once, within the recount period
