"""One behaviour suite, run against every store: the in-process one and Redis 8 with each vector type (FLOAT32 and
FLOAT16 in a Query Engine index, int8 in native vector sets), and int8 and unquantised float32 vector sets on a
Redis Cluster of 3 masters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from gateway.errors import StartupError
from gateway.store.base import Found, Store, Tags
from gateway.store.memory import MemoryStore
from gateway.store.redis.entries import RedisEntries
from gateway.store.redis.vector_sets import VectorSetStore
from tests.support.stores import DIM, REDIS_KINDS, TAGS, ClusterIds, entry, redis_store, unit

# How far a stored distance may be from the exact cosine distance: quantisation costs precision.
PRECISION = {"memory": 1e-4, "redis": 1e-4, "redis-float16": 5e-4, "redis-int8": 1e-3, "redis-cluster": 1e-3,
             "redis-cluster-float32": 1e-6}
CLUSTERS = {"redis-cluster": "int8", "redis-cluster-float32": "float32"}  # the vector types a cluster can hold


@pytest.fixture(params=["memory", *REDIS_KINDS, *CLUSTERS])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def _built(request: pytest.FixtureRequest, kind: str, *, stale_ms: int = 0) -> Store:
    if kind == "memory":
        return MemoryStore(max_entries=100, stale_ms=stale_ms)
    if kind in CLUSTERS:
        name = f"test-{uuid.uuid4().hex[:8]}"
        return ClusterIds(VectorSetStore(request.getfixturevalue("redis_cluster").url, index=f"idx:{name}",
                                         prefix=f"{name}:", timeout_ms=2000, vector_type=CLUSTERS[kind],
                                         stale_ms=stale_ms))
    return redis_store(kind, request.getfixturevalue("redis_server").url, f"test-{uuid.uuid4().hex[:8]}",
                       stale_ms=stale_ms)


@pytest.fixture
async def store(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[Store]:
    opened = _built(request, kind)
    await opened.open(dim=DIM, embedder="test-embedder")
    yield opened
    await opened.close()


@pytest.fixture
async def stale_store(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[Store]:
    """A store that keeps an expired answer 1.5 s longer, for stale-while-revalidate."""
    opened = _built(request, kind, stale_ms=1500)
    await opened.open(dim=DIM, embedder="test-embedder")
    yield opened
    await opened.close()


async def test_written_answer_is_read_back(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    assert await store.read_answer("a", refresh=False) == b"answer"
    assert await store.read_answer("missing", refresh=False) is None


async def test_search_orders_by_cosine_distance_within_the_scope(store: Store, kind: str) -> None:
    await store.write(entry("near", unit(1, 0.1)), ttl_ms=60_000)
    await store.write(entry("far", unit(0, 1)), ttl_ms=60_000)
    await store.write(entry("other-tenant", unit(1)), ttl_ms=60_000)  # overwritten below with other tags
    await store.write(entry("other-tenant", unit(1), tags=Tags(TAGS.model, TAGS.route, "tenant2", "ctx1")),
                      ttl_ms=60_000)
    found = await store.search(TAGS, unit(1), k=5)
    assert [candidate.key for candidate in found] == ["near", "far"]
    assert found[0].distance == pytest.approx(1 - float(unit(1, 0.1)[0]), abs=PRECISION[kind])
    assert found[1].distance == pytest.approx(1.0, abs=PRECISION[kind])
    assert [candidate.prompt for candidate in found] == ["prompt near", "prompt far"]


@pytest.mark.parametrize("other", [
    Tags("gpt-4o", TAGS.route, TAGS.tenant, TAGS.context), Tags(TAGS.model, "support", TAGS.tenant, TAGS.context),
    Tags(TAGS.model, TAGS.route, "tenant2", TAGS.context), Tags(TAGS.model, TAGS.route, TAGS.tenant, "ctx2"),
])
async def test_every_tag_partitions_the_search(store: Store, other: Tags) -> None:
    await store.write(entry("mine", unit(1)), ttl_ms=60_000)
    assert await store.search(other, unit(1), k=5) == []


@pytest.mark.parametrize("odd", [
    Tags("_", "_", "u", "c"), Tags("model with spaces, and comma", "a/b.c:d-e", "u", "c"),
    Tags("gpt-4o\x7f", "default", "u", "c"), Tags("{$vec}", "(@route:{x})", "*", "|"),
])
async def test_any_tag_value_is_searchable_and_never_breaks_the_query(store: Store, odd: Tags) -> None:
    await store.write(entry("odd", unit(1), tags=odd), ttl_ms=60_000)
    assert [candidate.key for candidate in await store.search(odd, unit(1), k=5)] == ["odd"]
    assert await store.search(TAGS, unit(1), k=5) == []


async def test_tags_are_case_sensitive(store: Store) -> None:
    await store.write(entry("upper", unit(1), tags=Tags(TAGS.model, "Support", TAGS.tenant, TAGS.context)),
                      ttl_ms=60_000)
    assert await store.search(Tags(TAGS.model, "support", TAGS.tenant, TAGS.context), unit(1), k=5) == []


async def test_search_returns_at_most_k(store: Store) -> None:
    for index in range(6):
        await store.write(entry(f"e{index}", unit(1, index / 10)), ttl_ms=60_000)
    found = await store.search(TAGS, unit(1), k=3)
    assert [candidate.key for candidate in found] == ["e0", "e1", "e2"]


async def test_only_the_answer_expires_and_a_refill_revives_the_same_entry(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=300)
    await asyncio.sleep(0.5)
    assert await store.read_answer("a", refresh=False) is None
    assert [candidate.key for candidate in await store.search(TAGS, unit(1), k=5)] == ["a"]  # vector kept
    await store.write(entry("a", None, answer=b"fresh"), ttl_ms=60_000)  # refill without re-embedding
    assert await store.read_answer("a", refresh=False) == b"fresh"
    assert [candidate.key for candidate in await store.search(TAGS, unit(1), k=5)] == ["a"]


async def test_a_read_with_refresh_slides_the_ttl(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=600)
    for _ in range(4):
        await asyncio.sleep(0.25)
        assert await store.read_answer("a", refresh=True) == b"answer"
    await asyncio.sleep(0.8)
    assert await store.read_answer("a", refresh=True) is None


async def test_a_read_without_refresh_keeps_the_fixed_lifetime(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=600)
    for _ in range(2):
        await asyncio.sleep(0.25)
        assert await store.read_answer("a", refresh=False) == b"answer"
    await asyncio.sleep(0.3)
    assert await store.read_answer("a", refresh=False) is None


async def test_an_expired_answer_is_read_stale_within_the_window_asked(stale_store: Store) -> None:
    await stale_store.write(entry("a", unit(1)), ttl_ms=300)
    assert await stale_store.read_stale("a", within_ms=1000) is None  # it lives: read it fresh
    await asyncio.sleep(0.5)
    assert await stale_store.read_answer("a", refresh=True) is None  # the TTL stays the truth
    stale = await stale_store.read_stale("a", within_ms=1000)
    assert stale is not None and stale.answer == b"answer"
    assert 100 <= stale.expired_ms < 1000 and stale.age_ms >= stale.expired_ms
    assert await stale_store.read_stale("a", within_ms=100) is None  # expired longer ago than the client accepts
    assert await stale_store.read_stale("missing", within_ms=1000) is None


async def test_a_stale_copy_is_kept_no_longer_than_the_store_was_built_for(stale_store: Store) -> None:
    await stale_store.write(entry("a", unit(1)), ttl_ms=200)
    await asyncio.sleep(1.9)
    assert await stale_store.read_stale("a", within_ms=60_000) is None
    assert [candidate.key for candidate in await stale_store.search(TAGS, unit(1), k=5)] == ["a"]


async def test_a_store_built_without_stale_copies_keeps_none(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=200)
    await asyncio.sleep(0.4)
    assert await store.read_stale("a", within_ms=60_000) is None


async def test_a_rewrite_replaces_the_stale_copy_and_a_refresh_renews_it(stale_store: Store) -> None:
    await stale_store.write(entry("a", unit(1), answer=b"old"), ttl_ms=200)
    await asyncio.sleep(0.3)
    await stale_store.write(entry("a", None, answer=b"new"), ttl_ms=600)
    await asyncio.sleep(0.45)
    assert await stale_store.read_answer("a", refresh=True) == b"new"  # renews both for 0.6 s from here
    await asyncio.sleep(0.75)
    assert await stale_store.read_answer("a", refresh=False) is None
    stale = await stale_store.read_stale("a", within_ms=60_000)
    # expired 0.15 s ago; had its copy not been renewed with it, it would say 0.6 s
    assert stale is not None and stale.answer == b"new" and stale.expired_ms < 400


async def test_no_stale_copy_outlives_a_delete_or_a_flush(stale_store: Store) -> None:
    """An expired answer's stale copy goes with its entry: a rating's delete and an operator's flush by route or
    tenant leave nothing to be served stale (nor any second copy taking memory)."""
    other_route = Tags(TAGS.model, "support", TAGS.tenant, TAGS.context)
    other_user = Tags(TAGS.model, TAGS.route, "tenant2", TAGS.context)
    written = (("mine", unit(1), TAGS), ("gone", unit(2), TAGS), ("route", unit(1), other_route),
               ("route-exact", None, other_route), ("user", unit(1), other_user))
    for key, vector, tags in written:
        await stale_store.write(entry(key, vector, tags=tags), ttl_ms=200)
    await asyncio.sleep(0.4)
    assert all([await stale_store.read_stale(key, within_ms=60_000) for key, _, _ in written])
    assert await stale_store.delete("gone") is True
    assert await stale_store.flush(route="support") == 2
    assert await stale_store.flush(tenant="tenant2") == 1
    assert [key for key, _, _ in written if await stale_store.read_stale(key, within_ms=60_000)] == ["mine"]
    assert await stale_store.flush() == 1
    assert await stale_store.read_stale("mine", within_ms=60_000) is None


async def test_a_noted_hit_is_counted_since_the_write_and_says_what_is_left(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    standing = [await store.note_hit("a") for _ in range(3)]
    assert [found.hits for found in standing if found is not None] == [1, 2, 3]
    assert all(50_000 < found.left_ms <= 60_000 and found.ttl_ms == 60_000 for found in standing if found)
    await store.write(entry("a", None, answer=b"fresh"), ttl_ms=60_000)
    renewed = await store.note_hit("a")
    assert renewed is not None and renewed.hits == 1  # a rewrite starts the count again
    assert await store.note_hit("missing") is None
    await store.write(entry("short", None), ttl_ms=200)
    await asyncio.sleep(0.3)
    assert await store.note_hit("short") is None


async def test_what_wrote_an_answer_is_read_with_it_and_a_rewrite_replaces_it(store: Store) -> None:
    await store.write(replace(entry("a", unit(1)), origin="prefetch"), ttl_ms=60_000)
    await store.write(entry("mine", unit(0, 1)), ttl_ms=60_000)
    assert await store.read("a", refresh=True) == Found(b"answer", "prefetch")
    assert await store.read("a", refresh=False) == Found(b"answer", "prefetch")
    assert await store.read("mine", refresh=False) == Found(b"answer", "")  # a client's
    assert await store.read("missing", refresh=False) is None
    await store.write(replace(entry("a", None, answer=b"refreshed"), origin="refresh"), ttl_ms=60_000)
    assert await store.read("a", refresh=False) == Found(b"refreshed", "refresh")
    await store.write(entry("a", None, answer=b"client"), ttl_ms=60_000)  # a client's own miss
    assert await store.read("a", refresh=False) == Found(b"client", "")


async def test_a_stale_answer_says_what_wrote_it(stale_store: Store) -> None:
    await stale_store.write(replace(entry("a", unit(1)), origin="warming"), ttl_ms=200)
    await stale_store.write(entry("b", unit(0, 1)), ttl_ms=200)
    await asyncio.sleep(0.4)
    assert await stale_store.read("a", refresh=True) is None
    warmed, mine = [await stale_store.read_stale(key, within_ms=60_000) for key in ("a", "b")]
    assert warmed is not None and warmed.origin == "warming" and warmed.answer == b"answer"
    assert mine is not None and mine.origin == ""


async def test_an_answer_written_before_answers_said_what_wrote_them_is_a_clients(stale_store: Store,
                                                                                 kind: str) -> None:
    """A Redis store outlives an upgrade: its entries have no `origin` field, and read as a client's."""
    if kind == "memory":
        pytest.skip("nothing the embedded store holds outlives the process")
    redis = getattr(stale_store, "store", stale_store)
    await stale_store.write(replace(entry("old", unit(1)), origin="prefetch"), ttl_ms=300)
    entry_key = redis._entry_key(stale_store._id("old") if redis is not stale_store else "old")
    assert await redis._writer.hdel(entry_key, "origin") == 1
    assert await stale_store.read("old", refresh=False) == Found(b"answer", "")
    assert await stale_store.read("old", refresh=True) == Found(b"answer", "")
    await asyncio.sleep(0.6)
    stale = await stale_store.read_stale("old", within_ms=60_000)
    assert stale is not None and stale.answer == b"answer" and stale.origin == ""


async def test_a_count_adds_amounts_and_gives_them_back(store: Store) -> None:
    assert await store.bump("spent", ttl_ms=60_000, by=5) == 5
    assert await store.bump("spent", ttl_ms=60_000, by=-2) == 3
    assert await store.bump("spent", ttl_ms=60_000, by=0) == 3


async def test_an_entry_without_vector_is_exact_only(store: Store) -> None:
    await store.write(entry("exact-only", None), ttl_ms=60_000)
    assert await store.read_answer("exact-only", refresh=False) == b"answer"
    assert await store.search(TAGS, unit(1), k=5) == []


async def test_blobs_round_trip_and_expire(store: Store) -> None:
    await store.put_blob("b", b"\x00body", ttl_ms=300)
    assert await store.get_blob("b") == b"\x00body"
    assert await store.get_blob("nope") is None
    await asyncio.sleep(0.5)
    assert await store.get_blob("b") is None


async def test_blobs_in_batches_round_trip_in_order_and_expire(store: Store) -> None:
    assert await store.get_blobs([]) == [] and await store.put_blobs([], ttl_ms=300) is None
    await store.put_blobs([("x", b"\x00one"), ("y", b"two")], ttl_ms=300)
    await store.put_blob("z", b"three", ttl_ms=60_000)
    assert await store.get_blobs(["y", "nope", "x", "z"]) == [b"two", None, b"\x00one", b"three"]
    await asyncio.sleep(0.5)
    assert await store.get_blobs(["x", "y", "z"]) == [None, None, b"three"]


async def test_describe_gives_the_tags_even_after_the_answer_expired(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=200)
    assert await store.describe("a") == TAGS
    await asyncio.sleep(0.3)
    assert await store.read_answer("a", refresh=False) is None
    assert await store.describe("a") == TAGS
    assert await store.describe("nope") is None


async def test_delete_removes_the_whole_entry(store: Store) -> None:
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    assert await store.delete("a") is True
    assert await store.read_answer("a", refresh=False) is None
    assert await store.search(TAGS, unit(1), k=5) == []
    assert await store.delete("a") is False


async def test_flush_by_route_by_tenant_and_everything(store: Store) -> None:
    other_route = Tags(TAGS.model, "support", TAGS.tenant, TAGS.context)
    other_user = Tags(TAGS.model, TAGS.route, "tenant2", TAGS.context)
    for key, tags in (("mine", TAGS), ("route", other_route), ("user", other_user)):
        await store.write(entry(key, unit(1), tags=tags), ttl_ms=60_000)
    await store.put_blob("blob", b"x", ttl_ms=60_000)
    assert await store.flush(route="support") == 1
    assert await store.read_answer("route", refresh=False) is None
    assert await store.flush(tenant="tenant2") == 1
    assert await store.read_answer("user", refresh=False) is None
    assert await store.read_answer("mine", refresh=False) == b"answer"
    assert await store.get_blob("blob") == b"x"
    assert await store.flush() == 1
    assert await store.read_answer("mine", refresh=False) is None and await store.get_blob("blob") is None


async def test_bump_counts_within_a_window(store: Store) -> None:
    assert [await store.bump("q", ttl_ms=400) for _ in range(3)] == [1, 2, 3]
    assert await store.bump("other", ttl_ms=400) == 1
    await asyncio.sleep(0.6)
    assert await store.bump("q", ttl_ms=400) == 1


async def test_health_reports_the_backend(store: Store) -> None:
    state = await store.health()
    assert state["backend"] in {"memory", "redis"}


@pytest.mark.parametrize("built", REDIS_KINDS)
async def test_redis_refuses_a_cache_built_for_another_embedder_or_vector_type(redis_server, built: str) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = redis_store(built, redis_server.url, name)
    await first.open(dim=DIM, embedder="test-embedder")
    await first.write(entry("a", unit(1)), ttl_ms=60_000)
    await first.close()
    drop = r"FT\.DROPINDEX" if built != "redis-int8" else r"--scan --pattern"
    for kind in REDIS_KINDS:
        for dim, embedder in ((DIM * 2, "test-embedder"), (DIM, "another-embedder"), (DIM, "test-embedder")):
            if kind == built and (dim, embedder) == (DIM, "test-embedder"):
                continue  # the one way to open it again
            second = redis_store(kind, redis_server.url, name)
            with pytest.raises(StartupError, match=rf"{drop} .*INDEX_NAME"):
                await second.open(dim=dim, embedder=embedder)
            await second.close()
    again = redis_store(built, redis_server.url, name)
    await again.open(dim=DIM, embedder="test-embedder")
    assert [candidate.key for candidate in await again.search(TAGS, unit(1), k=5)] == ["a"]
    await again.close()


async def test_flush_by_route_also_removes_entries_without_vector(store: Store) -> None:
    other_route = Tags(TAGS.model, "support", TAGS.tenant, TAGS.context)
    await store.write(entry("exact-only", None, tags=other_route), ttl_ms=60_000)
    await store.write(entry("kept", None), ttl_ms=60_000)
    assert await store.flush(route="support") == 1
    assert await store.describe("exact-only") is None
    assert await store.describe("kept") == TAGS


async def test_a_vector_added_later_makes_an_exact_only_entry_searchable(store: Store) -> None:
    await store.write(entry("a", None), ttl_ms=60_000)
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    assert [candidate.key for candidate in await store.search(TAGS, unit(1), k=5)] == ["a"]
    assert await store.flush(route=TAGS.route) == 1
    assert await store.search(TAGS, unit(1), k=5) == []


@pytest.mark.parametrize("kind", [*REDIS_KINDS, *CLUSTERS])
async def test_a_bulk_write_is_the_same_as_writing_one_by_one(store: RedisEntries) -> None:
    other = Tags(TAGS.model, TAGS.route, "tenant2", TAGS.context)
    entries = [entry(f"e{index}", unit(1, index / 100), tags=other if index % 2 else TAGS) for index in range(700)]
    await store.write_many(entries, ttl_ms=60_000)
    assert [candidate.key for candidate in await store.search(TAGS, unit(1), k=2)] == ["e0", "e2"]
    assert [candidate.key for candidate in await store.search(other, unit(1), k=1)] == ["e1"]
    assert await store.read_answer("e699", refresh=False) == b"answer"
    assert await store.flush(tenant="tenant2") == 350


async def test_redis_store_recreates_its_index_after_redis_lost_it(redis_server) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    store = redis_store("redis", redis_server.url, name)
    await store.open(dim=DIM, embedder="test-embedder")
    await store._redis.execute_command("FT.DROPINDEX", f"idx:{name}", "DD")  # what a restart without disk does
    assert await store.search(TAGS, unit(1), k=5) == []  # recreated on the spot, not an error
    await store.write(entry("a", unit(1)), ttl_ms=60_000)
    assert [candidate.key for candidate in await store.search(TAGS, unit(1), k=5)] == ["a"]
    await store.close()
