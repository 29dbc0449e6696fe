"""The Query Engine store walks the HNSW graph in batches for a scope that holds most of a small index, and
leaves the choice to RediSearch otherwise: the rule on tables and its memory on a scripted clock (the commands a
real Redis 8 receives: integration/test_scope_share_redis.py)."""

from __future__ import annotations

import pytest

from gateway.store.base import Tags
from gateway.store.redis.entries import SEARCH_EF
from gateway.store.redis.query_engine import knn_query
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
