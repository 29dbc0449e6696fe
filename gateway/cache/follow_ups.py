"""What prefetch learns: for each conversation context (`RequestKey.conversation`, the digest of everything before a
request's final user turn: its tenant, or "shared" on a shared route, its model, route, parameters and turns, the
assistant's without their wording), which next user turns followed it, clustered by meaning with the cache's
embedder. So what was learnt after one answer is used after the next answer to the same questions: each expiry or
refresh of an answer words it anew. One small table per context, kept in the store as a blob that lives `ttl_ms`
after its last change:

    [[text, base64 float32 centroid, count], ...]  (at most MAX_FOLLOW_UPS rows)

The context digest holds the tenant, so nothing learnt of one tenant's conversations is read for another's. A
caller can make up contexts at will, but each is one bounded blob with a TTL, in the store's own bounds like every
cached answer (the embedded store's least-recently-used limit, Redis's memory policy); within a context a row is
replaced only when it was seen once, so made-up follow-ups cannot push out the ones that recur. Counts are read,
changed and written back, not atomically: two workers learning the same context at once may lose a count, which
only delays a prefetch."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import orjson

from gateway.cache.prompt_vectors import PromptVectors
from gateway.guard import OutageGuard
from gateway.store.base import Store

MAX_FOLLOW_UPS = 8  # rows one context keeps
MAX_FOLLOW_UP_CHARS = 2_000  # a longer next turn is no FAQ's follow-up: not learnt


@dataclass(frozen=True)
class FollowUpConfig:
    min_prob: float  # share of a context's next turns its likeliest one must have to be prefetched
    min_count: int  # ... and how many times it must have been seen
    distance: float  # cosine distance within which two next turns are one (on the local model's scale)
    ttl_ms: int  # how long a context's table lives after its last change


class FollowUps:
    def __init__(self, store: Store, vectors: PromptVectors, guard: OutageGuard, config: FollowUpConfig) -> None:
        self._store = store
        self._vectors = vectors  # the cache's own: a follow-up is embedded once, for its lookup and here
        self._guard = guard
        self.config = config

    async def table(self, context: str) -> list[list]:
        """What was learnt of `context`: its rows (text, centroid, count). Raises CacheUnavailable."""
        raw = await self._guard.call(lambda: self._store.get_blob(_name(context)))
        if raw is None:
            return []
        try:
            table = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return []
        # Written by another version (another embedder's vectors, say): started afresh, never a failed learn.
        if not isinstance(table, list) or not all(_well_formed(row) for row in table):
            return []
        return table

    async def learn(self, context: str, text: str, *, api_key: str | None) -> None:
        """One more conversation in `context` went on with `text`. Raises CacheUnavailable."""
        if not text.strip() or len(text) > MAX_FOLLOW_UP_CHARS:
            return
        vector = _unit(await self._vectors.vector(text, api_key))
        reader = self._vectors.reader(text)
        table = await self.table(context)
        nearest, distance = None, 2.0
        if any(_vector(row[1]).shape != vector.shape for row in table):
            table = []  # the embedder changed: what was learnt with the other one cannot be compared
        for row in table:
            if self._vectors.reader(row[0]) is not reader:
                continue  # a turn in a language another model reads: its vector is not comparable
            gap = (1.0 - float(np.dot(_vector(row[1]), vector))) * reader.distance_scale
            if gap < distance:
                nearest, distance = row, gap
        if nearest is not None and distance <= self.config.distance:
            count = int(nearest[2])
            centroid = _unit(_vector(nearest[1]) * count + vector)
            nearest[1], nearest[2] = _encoded(centroid), count + 1
        elif len(table) < MAX_FOLLOW_UPS:
            table.append([text, _encoded(vector), 1])
        else:
            rarest = min(range(len(table)), key=lambda index: int(table[index][2]))
            if int(table[rarest][2]) > 1:
                return  # every row recurred: a new one waits until one of them expires with its table
            table[rarest] = [text, _encoded(vector), 1]
        blob = orjson.dumps(table)
        await self._guard.call(lambda: self._store.put_blob(_name(context), blob, ttl_ms=self.config.ttl_ms))

    async def likely(self, context: str) -> str | None:
        """The next turn likely enough after `context` to prefetch its answer: the text first seen of the most
        frequent one, when it passes both floors. Raises CacheUnavailable."""
        table = await self.table(context)
        counts = [int(row[2]) for row in table]
        if not counts:
            return None
        best = max(range(len(table)), key=counts.__getitem__)
        if counts[best] < self.config.min_count or counts[best] / sum(counts) < self.config.min_prob:
            return None
        return str(table[best][0])


def _well_formed(row: object) -> bool:
    if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
            and isinstance(row[2], int) and row[2] > 0):
        return False
    try:
        return len(base64.b64decode(row[1], validate=True)) % 4 == 0
    except ValueError:
        return False


def _name(context: str) -> str:
    return f"follow-ups:{context}"


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _encoded(vector: np.ndarray) -> str:
    return base64.b64encode(vector.astype(np.float32).tobytes()).decode()


def _vector(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype=np.float32)
