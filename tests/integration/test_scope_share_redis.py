"""The Query Engine store's batched walk of the HNSW graph for a scope that holds most of a small index, seen in
the commands a real Redis 8 receives (the rule itself, on tables and a scripted clock: unit/test_scope_share.py)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import numpy as np
import redis

from gateway.store.base import Entry, Tags
from gateway.store.redis.query_engine import RedisStore

BIG = Tags("gpt-4o-mini", "default", "tenant", "ctx-single-turn")
SMALL = Tags("gpt-4o-mini", "default", "tenant", "ctx-a-conversation")


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
