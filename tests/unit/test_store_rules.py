"""What the stores decide without a server: the in-process store evicts the least recently used entry and keeps to
its byte budget, blobs first; int8 vector sets need Redis 8.2 (the behaviour every store shares, against each of
them and a real Redis 8: integration/test_store_behaviour.py)."""

from __future__ import annotations

import pytest

from gateway.store.base import Entry
from gateway.store.memory import MemoryStore
from gateway.store.redis.vector_sets import recent_enough
from tests.support.stores import DIM, TAGS, entry, unit


async def test_memory_store_evicts_the_least_recently_used() -> None:
    store = MemoryStore(max_entries=2)
    await store.open(dim=DIM, embedder="test-embedder")
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    await store.write(entry("b", unit(1, 1)), ttl_ms=60_000)
    assert await store.read_answer("a", refresh=False) == b"answer"  # a is now the most recent
    await store.write(entry("c", unit(0, 1)), ttl_ms=60_000)
    assert await store.read_answer("b", refresh=False) is None
    assert sorted(candidate.key for candidate in await store.search(TAGS, unit(1), k=5)) == ["a", "c"]


async def test_memory_store_keeps_to_its_byte_budget_letting_blobs_go_first() -> None:
    """Counted in entries alone, 50,000 answers or embeddings answers of a megabyte each would be 50 GB."""
    store = MemoryStore(max_entries=1000, max_bytes=100_000)
    await store.open(dim=DIM, embedder="test-embedder")
    await store.put_blob("vectors", b"v" * 30_000, ttl_ms=60_000)
    big = Entry("big", TAGS, "prompt", unit(1), b"x" * 40_000)
    await store.write(big, ttl_ms=60_000)
    assert await store.get_blob("vectors") is not None
    await store.write(Entry("bigger", TAGS, "prompt", unit(0, 1), b"y" * 40_000), ttl_ms=60_000)
    assert await store.get_blob("vectors") is None  # the blob went first
    assert await store.read_answer("big", refresh=False) is not None  # now the most recently used
    await store.write(Entry("third", TAGS, "prompt", unit(1, 1), b"z" * 40_000), ttl_ms=60_000)
    assert await store.read_answer("bigger", refresh=False) is None  # then the least recently used entry
    assert sorted(candidate.key for candidate in await store.search(TAGS, unit(1), k=5)) == ["big", "third"]
    assert (await store.health())["bytes"] <= 100_000
    for key in ("big", "third"):
        await store.delete(key)
    assert (await store.health())["bytes"] == 0


@pytest.mark.parametrize(("version", "enough"), [("8.2.3", True), ("8.2.0", True), ("9.0.1", True), ("10.0", True),
                                                 ("8.0.2", False), ("7.4.2", False), ("", False), ("x.y", False)])
def test_int8_needs_redis_8_2(version: str, enough: bool) -> None:
    assert recent_enough(version) is enough
