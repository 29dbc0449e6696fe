"""The store interface. A store keeps entries (tags, prompt, vector, answer) and blobs; it knows nothing of
thresholds, scope or layers, which live once in `gateway.cache.policy` above every store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tags:
    """What must be equal for two entries to be neighbours: the cache scope of a request."""

    model: str
    route: str
    tenant: str  # a digest of the caller's credential, "anonymous", or "shared" (stored as the field `user`)
    context: str  # digest of the conversation before the final user message, tools and parameters


@dataclass(frozen=True)
class Entry:
    key: str  # the exact-layer digest; a store may add its own prefix
    tags: Tags
    prompt: str
    vector: np.ndarray | None  # None: reachable by the exact layer only
    answer: bytes  # the `resp` field: the only part that expires
    usage: bytes = b"null"
    origin: str = ""  # what wrote the answer when no client asked it ("refresh", "prefetch", "warming"); "": a client


@dataclass(frozen=True)
class Found:
    """A live answer, with what wrote it (`Entry.origin`): read with the answer, so a hit knows it for free."""

    answer: bytes
    origin: str = ""


@dataclass(frozen=True)
class Stale:
    """An answer past its TTL, still kept for stale-while-revalidate."""

    answer: bytes
    expired_ms: int  # how long ago the answer expired
    age_ms: int  # how long ago it was written (the HTTP `Age` of what it says)
    origin: str = ""  # what wrote it (`Entry.origin`)


@dataclass(frozen=True)
class Freshness:
    """How a live answer stands, for refresh-ahead."""

    hits: int  # times it was served since it was written, this one included
    left_ms: int  # until its answer expires
    ttl_ms: int  # the lifetime it was written with


@dataclass(frozen=True)
class Candidate:
    key: str
    distance: float  # cosine distance, 0 (same direction) to 2
    prompt: str  # the text that was embedded, for a verifier to compare with the query


class Store(ABC):
    """Every method raises `gateway.errors.StoreError` when the backend fails."""

    @abstractmethod
    async def open(self, *, dim: int, embedder: str) -> None:
        """Prepare for vectors of `dim` from `embedder`; a mismatch with existing data is a StartupError."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def read(self, key: str, *, refresh: bool) -> Found | None:
        """The entry's answer and origin if the answer still lives; `refresh` renews it for the TTL it was written
        with."""

    async def read_answer(self, key: str, *, refresh: bool) -> bytes | None:
        found = await self.read(key, refresh=refresh)
        return None if found is None else found.answer

    @abstractmethod
    async def read_stale(self, key: str, *, within_ms: int) -> Stale | None:
        """The entry's answer when it expired less than `within_ms` ago and the store still keeps it (a store
        keeps an expired answer for the `stale_ms` it was built with); None when it lives or is gone."""

    @abstractmethod
    async def note_hit(self, key: str) -> Freshness | None:
        """Count one more serve of the entry's live answer, and say how it stands; None when its answer is gone."""

    @abstractmethod
    async def search(self, tags: Tags, vector: np.ndarray, k: int) -> list[Candidate]:
        """The `k` nearest entries with exactly these tags, nearest first, whether or not their answer lives."""

    @abstractmethod
    async def write(self, entry: Entry, *, ttl_ms: int) -> None:
        """Create or refill the entry; only its answer expires after `ttl_ms`."""

    @abstractmethod
    async def describe(self, key: str) -> Tags | None:
        """The entry's tags (whether or not its answer lives), or None when there is no such entry."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the whole entry (answer, vector and tags); False when there was none."""

    @abstractmethod
    async def flush(self, *, route: str | None = None, tenant: str | None = None) -> int:
        """Remove every entry of a route and/or a tenant (all entries and blobs when both are None)."""

    @abstractmethod
    async def bump(self, key: str, *, ttl_ms: int, by: int = 1) -> int:
        """Add `by` (one more occurrence, or an amount spent; negative to give some back) to the count of `key`
        (which lives `ttl_ms` after its first) and return it."""

    @abstractmethod
    async def get_blob(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def put_blob(self, key: str, value: bytes, *, ttl_ms: int) -> None: ...

    @abstractmethod
    async def get_blobs(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's blob (None where there is none), in one round trip."""

    @abstractmethod
    async def put_blobs(self, items: Sequence[tuple[str, bytes]], *, ttl_ms: int) -> None:
        """Keep each (key, blob), in one round trip."""

    @abstractmethod
    async def health(self) -> dict[str, Any]:
        """A small JSON-able state; raises StoreError when the backend cannot be reached."""
