"""Which cache scopes hold most of a Query Engine index, so their KNN lookups can walk the HNSW graph in batches.

Given a filter, RediSearch guesses how to run a KNN from the index's size and the filter's share of it. Below some
tens of thousands of entries it computes the distance to every entry that passes the filter, even when one scope
holds them all: every deployment with one tenant, model and route. With 20,000 entries in one scope
(`bench.sizes`), a store lookup took 4.7 ms that way and 0.57 ms walking the graph in batches; by 45,000 entries
RediSearch walks the graph by itself. For a scope with a small share, batches cost more (10 % of 19,000 real
prompt vectors: 0.48 vs 0.22 ms), since the walk passes over the other scopes' entries; the two cross near 30 %.

So the store counts a scope's entries now and then, while the index is small enough for the guess to matter and the
count to be cheap (~0.05 µs an entry), and asks for batches where the scope holds at least `BATCHES_FROM_SHARE` of
the index. A stale count only costs speed: both plans find the same neighbours."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.store.base import Tags

BATCHES_FROM_SHARE = 0.3
BATCHES_FROM_ENTRIES = 3_000  # below this, brute force over the scope is as fast as the graph
COUNT_BELOW = 60_000  # index entries; above, RediSearch's own guess serves and a count would cost milliseconds
RECOUNT_SECS = 60.0
REMEMBERED = 4_096  # scopes; conversations make many small ones, which never need batches


def prefers_batches(scope_entries: int, index_entries: int) -> bool:
    return scope_entries >= BATCHES_FROM_ENTRIES and scope_entries >= BATCHES_FROM_SHARE * index_entries


class ScopeShares:
    """What is known of the index's size and each recently searched scope's, and when it was learnt."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._index: tuple[float, int] | None = None  # (learnt at, entries)
        self._scopes: OrderedDict[Tags, tuple[float, bool]] = OrderedDict()  # scope -> (learnt at, batches)

    def _fresh(self, learnt_at: float) -> bool:
        return self._clock() - learnt_at < RECOUNT_SECS

    def needs_index_size(self) -> bool:
        return self._index is None or not self._fresh(self._index[0])

    def learn_index_size(self, entries: int) -> None:
        self._index = (self._clock(), entries)

    def needs_count(self, scope: Tags) -> bool:
        """Whether to count `scope` along with this lookup: only once the index is known to be small."""
        if self._index is None or self._index[1] >= COUNT_BELOW:
            return False
        known = self._scopes.get(scope)
        return known is None or not self._fresh(known[0])

    def learn_count(self, scope: Tags, entries: int) -> None:
        index = self._index[1] if self._index is not None else 0
        self._scopes[scope] = (self._clock(), prefers_batches(entries, index))
        self._scopes.move_to_end(scope)
        while len(self._scopes) > REMEMBERED:
            self._scopes.popitem(last=False)

    def batches(self, scope: Tags) -> bool:
        if self._index is None or self._index[1] >= COUNT_BELOW:
            return False
        known = self._scopes.get(scope)
        return known is not None and known[1]
