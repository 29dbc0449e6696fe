"""Which cache scopes hold most of a Query Engine index, so their KNN lookups can walk the HNSW graph in batches.

Given a filter, RediSearch guesses how to run a KNN from the index's size and the filter's share of it. Below some
tens of thousands of entries it computes the distance to every entry that passes the filter, even when one scope
holds them all: every deployment with one tenant, model and route. With 20,000 entries in one scope
(`bench.sizes`), a store lookup took 4.7 ms that way and 0.57 ms walking the graph in batches; by 45,000 entries
RediSearch walks the graph by itself. For a scope with a small share, batches cost more (10 % of 19,000 real
prompt vectors: 0.48 vs 0.22 ms), since the walk passes over the other scopes' entries; the two cross near 30 %.

So the store learns the index's size and each searched scope's now and then, off the lookup's path, while the
index is small enough for the guess to matter and the counts to be cheap (~0.02 µs an index entry, ~0.075 µs a
scope entry), and asks for batches where a scope holds at least `BATCHES_FROM_SHARE` of the index. A stale size
only costs speed: both plans search the same scope, with the graph's recall."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.store.base import Tags

BATCHES_FROM_SHARE = 0.3
BATCHES_FROM_ENTRIES = 3_000  # below this, brute force over the scope is as fast as the graph
COUNT_BELOW = 45_000  # index entries; from here RediSearch walks the graph by itself
KEYS_PER_ENTRY = 4  # at most (hash, cached embedding, ask counter, ...): a key count this many times COUNT_BELOW
# or more means a big index without counting its entries, which costs Redis time in proportion
RECOUNT_SECS = 300.0
REMEMBERED = 4_096  # scopes; conversations make many small ones, which never need batches


def prefers_batches(scope_entries: int, index_entries: int) -> bool:
    return scope_entries >= BATCHES_FROM_ENTRIES and scope_entries >= BATCHES_FROM_SHARE * index_entries


def worth_counting(keys: int) -> bool:
    """Whether a Redis holding `keys` keys may hold a small index, whose entries are then worth counting."""
    return keys < KEYS_PER_ENTRY * COUNT_BELOW


class ScopeShares:
    """What is known of the index's size and of each recently searched scope's. A size is claimed before it
    is asked for, so concurrent lookups ask once; a failed ask is retried a period later."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._index_at = -RECOUNT_SECS  # when the index's size was last claimed
        self._index: int | None = None  # its entries, once learnt
        self._scopes: OrderedDict[Tags, tuple[float, bool]] = OrderedDict()  # scope -> (claimed at, batches)

    def _small(self) -> bool:
        return self._index is not None and self._index < COUNT_BELOW

    def claim_index_size(self) -> bool:
        now = self._clock()
        if now - self._index_at < RECOUNT_SECS:
            return False
        self._index_at = now
        return True

    def learn_index_size(self, entries: int) -> None:
        self._index = entries

    def claim_count(self, scope: Tags) -> bool:
        """Whether to count `scope`'s entries now: only in a small index, once a period."""
        if not self._small():
            return False
        now = self._clock()
        known = self._scopes.get(scope)
        if known is not None and now - known[0] < RECOUNT_SECS:
            return False
        self._remember(scope, now, known is not None and known[1])
        return True

    def learn_count(self, scope: Tags, entries: int) -> None:
        known = self._scopes.get(scope)
        claimed = known[0] if known is not None else self._clock()
        self._remember(scope, claimed, prefers_batches(entries, self._index or 0))

    def _remember(self, scope: Tags, claimed: float, batches: bool) -> None:
        self._scopes[scope] = (claimed, batches)
        self._scopes.move_to_end(scope)
        while len(self._scopes) > REMEMBERED:
            self._scopes.popitem(last=False)

    def batches(self, scope: Tags) -> bool:
        known = self._scopes.get(scope)
        return self._small() and known is not None and known[1]
