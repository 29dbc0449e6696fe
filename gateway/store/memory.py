"""The embedded store: the same semantics as Redis (answer-only TTL, exact keys, KNN within a scope) in
the gateway's own process, bounded by a least-recently-used limit on entries and on the bytes kept (blobs, which
are cheap to fetch again, are let go first). Each worker has its own."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gateway.store.base import Candidate, Entry, Found, Freshness, Stale, Store, Tags

SLOT_OVERHEAD = 512  # bytes a slot costs beyond its prompt, answer and vector (objects, tables, the matrix row)


@dataclass
class _Slot:
    entry: Entry
    answer: bytes | None
    expires_at: float  # time.monotonic() deadline of the answer
    ttl: float  # seconds the answer was written for, renewed by a refreshing read
    written_at: float  # time.monotonic() of the write
    found: Found  # what a read of the live answer returns, made once: a hit allocates nothing
    hits: int = 0  # serves counted by `note_hit` since the write

    @property
    def size(self) -> int:
        vector = self.entry.vector.nbytes if self.entry.vector is not None else 0
        return len(self.entry.prompt) + len(self.entry.answer) + len(self.entry.usage) + vector + SLOT_OVERHEAD


class _Neighbours:
    """The vectors of one scope in one growable matrix, so a search is one matrix-vector product."""

    def __init__(self, dim: int) -> None:
        self._matrix = np.empty((16, dim), dtype=np.float32)
        self._keys: list[str] = []
        self._row: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, key: str, vector: np.ndarray) -> None:
        row = self._row.get(key)
        if row is None:
            row = len(self._keys)
            if row == len(self._matrix):
                self._matrix = np.concatenate([self._matrix, np.empty_like(self._matrix)])
            self._keys.append(key)
            self._row[key] = row
        self._matrix[row] = vector

    def remove(self, key: str) -> None:
        row = self._row.pop(key, None)
        if row is None:
            return
        last = len(self._keys) - 1
        if row != last:  # move the last row into the hole
            self._matrix[row] = self._matrix[last]
            self._keys[row] = self._keys[last]
            self._row[self._keys[row]] = row
        self._keys.pop()

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        count = len(self._keys)
        distances = 1.0 - self._matrix[:count] @ vector
        order = np.argsort(distances)[:k] if count > k else np.argsort(distances)
        return [(self._keys[i], float(distances[i])) for i in order]


class MemoryStore(Store):
    def __init__(self, max_entries: int, max_bytes: int = 1 << 40, *, stale_ms: int = 0) -> None:
        self._max = max_entries
        self._stale = stale_ms / 1000  # how long an expired answer is kept for stale-while-revalidate
        self._max_bytes = max_bytes
        self._bytes = 0  # of every slot and blob kept
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._scopes: dict[Tags, _Neighbours] = {}
        self._blobs: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._dim = 0
        self._embedder = ""

    async def open(self, *, dim: int, embedder: str) -> None:
        self._dim, self._embedder = dim, embedder

    async def close(self) -> None:
        self._bytes = 0
        self._slots.clear()
        self._scopes.clear()
        self._blobs.clear()
        self._counts.clear()

    async def read(self, key: str, *, refresh: bool) -> Found | None:
        slot = self._slots.get(key)
        if slot is None or slot.answer is None:
            return None
        now = time.monotonic()
        if now >= slot.expires_at:
            if now >= slot.expires_at + self._stale:
                slot.answer = None  # the answer expires, the vector and tags stay
            return None
        if refresh:
            slot.expires_at = now + slot.ttl
        self._slots.move_to_end(key)
        return slot.found

    async def read_stale(self, key: str, *, within_ms: int) -> Stale | None:
        slot = self._slots.get(key)
        if slot is None or slot.answer is None:
            return None
        now = time.monotonic()
        expired = now - slot.expires_at
        if expired < 0 or expired >= min(within_ms / 1000, self._stale):
            return None
        return Stale(slot.answer, int(expired * 1000), int((now - slot.written_at) * 1000), slot.entry.origin)

    async def note_hit(self, key: str) -> Freshness | None:
        slot = self._slots.get(key)
        left = slot.expires_at - time.monotonic() if slot is not None and slot.answer is not None else 0
        if slot is None or left <= 0:
            return None
        slot.hits += 1
        return Freshness(slot.hits, int(left * 1000), int(slot.ttl * 1000))

    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        neighbours = self._scopes.get(tags)
        if not neighbours:
            return []
        return [Candidate(key, distance, self._slots[key].entry.prompt)
                for key, distance in neighbours.nearest(vector, k)]

    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        old = self._slots.pop(entry.key, None)
        if old is not None:
            self._bytes -= old.size
        if old is not None and old.entry.tags != entry.tags:
            self._forget(entry.key, old.entry.tags)
        elif old is not None and old.entry.vector is not None and entry.vector is None:
            entry = replace(entry, vector=old.entry.vector)
        now = time.monotonic()
        slot = self._slots[entry.key] = _Slot(entry, entry.answer, now + ttl_ms / 1000, ttl_ms / 1000, now,
                                              Found(entry.answer, entry.origin))
        self._bytes += slot.size
        if entry.vector is not None:
            self._scopes.setdefault(entry.tags, _Neighbours(self._dim)).put(entry.key, entry.vector)
        self._evict()

    def _evict(self) -> None:
        """Least recently used first: blobs while over the byte budget, then entries."""
        while self._blobs and self._bytes > self._max_bytes:
            _, (value, _) = self._blobs.popitem(last=False)
            self._bytes -= len(value)
        while self._slots and (len(self._slots) > self._max or self._bytes > self._max_bytes):
            key, evicted = self._slots.popitem(last=False)
            self._bytes -= evicted.size
            self._forget(key, evicted.entry.tags)

    def _forget(self, key: str, tags: Tags) -> None:
        neighbours = self._scopes.get(tags)
        if neighbours is not None:
            neighbours.remove(key)
            if not neighbours:
                del self._scopes[tags]

    async def describe(self, key: str) -> Tags | None:
        slot = self._slots.get(key)
        return slot.entry.tags if slot is not None else None

    async def delete(self, key: str) -> bool:
        slot = self._slots.pop(key, None)
        if slot is None:
            return False
        self._bytes -= slot.size
        self._forget(key, slot.entry.tags)
        return True

    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        doomed = [key for key, slot in self._slots.items()
                  if route in (None, slot.entry.tags.route) and tenant in (None, slot.entry.tags.tenant)]
        for key in doomed:
            await self.delete(key)
        if route is None and tenant is None:
            self._bytes -= sum(len(value) for value, _ in self._blobs.values())
            self._blobs.clear()
        return len(doomed)

    async def bump(self, key: str, *, ttl_ms: int, by: int = 1) -> int:
        now = time.monotonic()
        count, expires_at = self._counts.pop(key, (0, now + ttl_ms / 1000))
        if now >= expires_at:
            count, expires_at = 0, now + ttl_ms / 1000
        self._counts[key] = (count + by, expires_at)
        while len(self._counts) > self._max:
            self._counts.popitem(last=False)
        return count + by

    async def get_blob(self, key: str) -> bytes | None:
        found = self._blobs.get(key)
        if found is None:
            return None
        if time.monotonic() >= found[1]:
            del self._blobs[key]
            self._bytes -= len(found[0])
            return None
        self._blobs.move_to_end(key)
        return found[0]

    async def put_blob(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        old = self._blobs.pop(key, None)
        if old is not None:
            self._bytes -= len(old[0])
        self._blobs[key] = (value, time.monotonic() + ttl_ms / 1000)
        self._bytes += len(value)
        while len(self._blobs) > self._max:
            _, (evicted, _) = self._blobs.popitem(last=False)
            self._bytes -= len(evicted)
        self._evict()

    async def get_blobs(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get_blob(key) for key in keys]

    async def put_blobs(self, items: Sequence[tuple[str, bytes]], *, ttl_ms: int) -> None:
        for key, value in items:
            await self.put_blob(key, value, ttl_ms=ttl_ms)

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "entries": len(self._slots), "blobs": len(self._blobs),
                "max_entries": self._max, "bytes": self._bytes, "max_bytes": self._max_bytes}
