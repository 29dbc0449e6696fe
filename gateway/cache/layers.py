"""The cache's two layers above every store: the exact layer first, then the semantic layer (the nearest live
answer within the scope's distance threshold, confirmed by the verifier), TTLs, and what is worth storing.
`gateway.cache.policy` decides when to use them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson

from gateway.cache.learning import Learning
from gateway.cache.prompt_vectors import PromptVectors
from gateway.cache.scopes import scope_of
from gateway.embedding.base import Embedder
from gateway.errors import StoreError
from gateway.guard import OutageGuard
from gateway.store.base import Entry, Found, Stale, Store, Tags
from gateway.tracing import NO_TRACING, Tracer
from gateway.wire.answers import AnswerShape
from gateway.wire.canonical import SHARED_TENANT, RequestKey
from gateway.wire.controls import Controls

BLOBS_PER_READ = 32  # keys per store read: a reply of a few MB at most, well within the store's timeout


@dataclass(frozen=True)
class Hit:
    completion: dict[str, Any]
    layer: str  # "exact" or "semantic"
    entry: str
    distance: float | None = None
    threshold: float | None = None  # the distance threshold a semantic hit was served under
    stale: Stale | None = None  # an expired answer served while it is refreshed (stale-while-revalidate)
    raw: bytes = b""  # `completion` as the store holds it
    origin: str = ""  # what wrote the answer served when no client asked it (`Entry.origin`): its yield


@dataclass
class Lookup:
    """The outcome of a lookup; a miss keeps the prompt's vector so storing does not embed twice."""

    hit: Hit | None = None
    vector: np.ndarray | None = field(default=None, repr=False)
    # With adaptive thresholds, the nearest live answer beyond the scope's threshold but within the ceiling:
    # comparing it with the fresh answer of this miss is evidence about loosening, at no extra upstream cost.
    probe: Hit | None = None


@dataclass(frozen=True)
class PolicyConfig:
    threshold: float
    ttl_secs: int
    sliding: bool
    candidates: int
    admit_after: int = 1  # store an answer only once its exact request was asked this often
    max_temperature: float | None = None  # answers asked for at a higher temperature are not stored
    max_entry_bytes: int = 1 << 20  # larger answers (with their prompt) are served but not stored
    stale_secs: int = 0  # how long past its TTL an answer may be served while it is refreshed, by default
    stale_routes: tuple[tuple[str, int], ...] = ()  # the same, per route
    max_stale_secs: int = 0  # what no route or client may go beyond
    ahead_hits: int = 0  # refresh-ahead: serves of an answer that make it worth refreshing before it expires (0: off)
    ahead_share: float = 0.1  # ... once it has no more than this share of its lifetime left


class Verifier(Protocol):
    """A second opinion on a semantic candidate: does its cached prompt ask what the query asks?"""

    def accepts(self, query: str, cached: str, distance: float) -> bool: ...


def tags_of(key: RequestKey) -> Tags:
    return Tags(model=key.model, route=key.route, tenant=key.tenant, context=key.context)


class CacheLayers:
    def __init__(self, store: Store, embedder: Embedder, config: PolicyConfig, *, retry_secs: float,
                 learning: Learning, verifier: Verifier | None = None, tracer: Tracer = NO_TRACING,
                 verifiers: Mapping[str, Verifier] | None = None) -> None:
        self.store = store
        self.tracer = tracer  # a span around each step of a lookup and each store write
        self.embedder = embedder
        self.verifier = verifier
        # By the name of the embedder that reads a prompt, where its candidates need another verifier than `verifier`
        # (whose fitted score knows the shipped local model's distances only).
        self.verifiers = verifiers or {}
        self.config = config
        self.learning = learning
        self.store_guard = OutageGuard("cache store", retry_secs, error=StoreError)
        # Writes rest on their own: a write that fails or outlasts the timeout (a big one, say) must not make every
        # other caller's lookups bypass the cache.
        self.write_guard = OutageGuard("cache store writes", retry_secs, error=StoreError)
        self.embedder_guard = OutageGuard("embedder", retry_secs)
        # Lookups of stored parts (embeddings vectors) rest on their own too: a batch slow to read must not make
        # every other caller's chat lookups bypass the cache.
        self.parts_guard = OutageGuard("cache store (embeddings)", retry_secs, error=StoreError)
        self.prompts = PromptVectors(embedder, self.embedder_guard)

    async def _answer(self, entry: str, answers: AnswerShape, *,
                      refresh: bool = True) -> tuple[dict[str, Any], Found] | None:
        """The entry's live answer, when it is a whole one of the API asked, and as it was found."""
        refresh = refresh and self.config.sliding
        found = await self.store_guard.call(lambda: self.store.read(entry, refresh=refresh))
        completion = _complete(found.answer, answers) if found is not None else None
        return None if completion is None or found is None else (completion, found)

    def stale_window_ms(self, controls: Controls) -> int:
        """How long past its TTL this request accepts an answer: the client's or its route's window, within the
        operator's maximum."""
        config = self.config
        asked = controls.max_stale_secs
        if asked is None:
            asked = dict(config.stale_routes).get(controls.route, config.stale_secs)
        return min(asked, config.max_stale_secs) * 1000

    async def lookup(self, key: RequestKey, controls: Controls, *, api_key: str | None) -> Lookup:
        """A live answer (exact, then semantic), else the exact request's own answer expired within the request's
        stale window. Raises CacheUnavailable when the store or the embedder fails: the caller bypasses."""
        found = await self._live(key, controls, api_key=api_key)
        window = self.stale_window_ms(controls) if found.hit is None else 0
        if window:
            with self.tracer.span("cache.stale_lookup") as span:
                stale = await self.store_guard.call(lambda: self.store.read_stale(key.exact, within_ms=window))
                completion = _complete(stale.answer, key.answers) if stale is not None else None
                span.set("cache.found", completion is not None)
            if completion is not None:
                found.hit = Hit(completion, "exact", key.exact, stale=stale, raw=stale.answer, origin=stale.origin)
        return found

    async def _live(self, key: RequestKey, controls: Controls, *, api_key: str | None) -> Lookup:
        tracer = self.tracer
        with tracer.span("cache.exact_lookup") as span:
            exact = await self._answer(key.exact, key.answers)
            span.set("cache.found", exact is not None)
        if exact is not None:
            return Lookup(Hit(exact[0], "exact", key.exact, raw=exact[1].answer, origin=exact[1].origin))
        if key.prompt is None:
            return Lookup()
        with tracer.span("cache.embedding"):
            vector = await self.prompts.vector(key.prompt, api_key)
        reader = self.prompts.reader(key.prompt)
        verifier = self.verifiers.get(reader.name, self.verifier)
        asked = controls.threshold
        if asked is not None and self.learning.budgets.of(key.route) is None:
            threshold = reach = asked  # the client's own: nothing found under it is evidence about the scope's
        else:
            scope = scope_of(key)
            await self.learning.sync(scope)
            learned = self.learning.threshold(scope, self.config.threshold)
            if asked is None:
                threshold, reach = learned, max(learned, self.learning.ceiling(self.config.threshold))
            else:  # a budgeted route's may only be tightened: the budget is the operator's promise to every caller
                threshold = reach = min(asked, learned)
        with tracer.span("cache.vector_search") as span:
            candidates = await self.store_guard.call(
                lambda: self.store.search(tags_of(key), vector, self.config.candidates))
            span.set("cache.candidates", len(candidates))
        probe = None
        for candidate in candidates:
            distance = candidate.distance * reader.distance_scale  # every threshold is on the local model's scale
            if distance > reach:
                break
            if candidate.key == key.exact or self.prompts.differ_unread(key.prompt, candidate.prompt):
                continue  # its answer was just found expired by the exact layer; or it differs past the vector's reach
            if verifier is not None and not self._verified(verifier, key.prompt, candidate.prompt, distance):
                continue
            if distance > threshold:
                if probe is None and (near := await self._answer(candidate.key, key.answers, refresh=False)):
                    probe = Hit(near[0], "semantic", candidate.key, distance, raw=near[1].answer)
                continue
            found = await self._answer(candidate.key, key.answers)
            if found is not None:  # an expired answer falls through to the next candidate
                hit = Hit(found[0], "semantic", candidate.key, distance, threshold, raw=found[1].answer,
                          origin=found[1].origin)
                return Lookup(hit, vector)
        return Lookup(vector=vector, probe=probe)

    def _verified(self, verifier: Verifier, query: str, cached: str, distance: float) -> bool:
        with self.tracer.span("cache.verifier") as span:
            accepted = verifier.accepts(query, cached, distance)
            span.set("cache.distance", distance)
            span.set("cache.accepted", accepted)
        return accepted

    def admits(self, temperature: float | None) -> bool:
        """Whether an answer asked for at this temperature may be stored."""
        limit = self.config.max_temperature
        return limit is None or temperature is None or temperature <= limit

    def _ttl_ms(self, controls: Controls) -> int:
        return (controls.ttl_secs or self.config.ttl_secs) * 1000

    async def note_ask(self, key: RequestKey, controls: Controls) -> int | None:
        """Count one more ask of this exact request when admission counts asks (else None); the count so far.
        Raises CacheUnavailable."""
        if self.config.admit_after <= 1:
            return None
        ttl_ms = self._ttl_ms(controls)
        return await self.write_guard.call(lambda: self.store.bump(key.exact, ttl_ms=ttl_ms))

    async def remember(self, key: RequestKey, completion: dict[str, Any], controls: Controls, *,
                       vector: np.ndarray | None, api_key: str | None, temperature: float | None = None,
                       origin: str = "") -> bool:
        """Store a finished answer (`origin`: what asked it, when no client did); False when it is not worth
        storing. Raises CacheUnavailable."""
        if not controls.store or not key.answers.complete(completion) or not self.admits(temperature):
            return False
        if key.tenant == SHARED_TENANT and key.answers.private(completion):
            return False  # another tenant's account could not read it
        answer = orjson.dumps(completion)
        if len(answer) + len(key.prompt or "") > self.config.max_entry_bytes:
            return False
        asks = await self.note_ask(key, controls)
        if asks is not None and asks < self.config.admit_after:
            return False  # a one-off question: keep it out of the index
        ttl_ms = self._ttl_ms(controls)
        if vector is None and key.prompt is not None:
            with self.tracer.span("cache.embedding"):
                vector = await self.prompts.vector(key.prompt, api_key)
        entry = Entry(key=key.exact, tags=tags_of(key), prompt=key.prompt or "", vector=vector,
                      answer=answer, usage=orjson.dumps(completion.get("usage")), origin=origin)
        with self.tracer.span("cache.store_write") as span:
            span.set("cache.bytes", len(answer))
            await self.write_guard.call(lambda: self.store.write(entry, ttl_ms=ttl_ms))
        return True

    async def recall_blobs(self, keys: list[str], *, limit: int) -> list[bytes | None] | None:
        """Each key's blob, read a few at a time (a key asked twice is read once); None as soon as the whole is
        expected to pass `limit` bytes (the blobs found so far, in proportion), so a request naming one big blob
        thousands of times costs a read of it, not of thousands. Raises CacheUnavailable."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        size = 0
        for start in range(0, len(unique), BLOBS_PER_READ):
            chunk = unique[start:start + BLOBS_PER_READ]
            values = await self.parts_guard.call(functools.partial(self.store.get_blobs, chunk))
            for key, value in zip(chunk, values, strict=True):
                if value is not None:
                    found[key] = value
                    size += len(value)
            if found and size / len(found) * len(keys) > limit:
                return None
        return [found.get(key) for key in keys]

    async def keep_blobs(self, items: list[tuple[str, bytes]], controls: Controls) -> None:
        # A batch may name one input many times: each key is written once.
        kept = [(key, value) for key, value in dict(items).items() if len(value) <= self.config.max_entry_bytes]
        if controls.store and kept:
            ttl_ms = self._ttl_ms(controls)
            with self.tracer.span("cache.store_write") as span:
                span.set("cache.parts", len(kept))
                await self.write_guard.call(lambda: self.store.put_blobs(kept, ttl_ms=ttl_ms))


def _complete(raw: bytes | None, answers: AnswerShape) -> dict[str, Any] | None:
    """A stored answer, when it is a whole one of the API asked."""
    if raw is None:
        return None
    try:
        completion = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return completion if answers.complete(completion) else None
