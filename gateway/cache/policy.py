"""The cache policy, in two verbs every endpoint uses. `decide` looks a request up and says what to do with it:
serve a cached answer (a `Hit`), follow an identical request already on its way upstream (`Following`), or go
upstream (a `Miss`, with all the miss needs). `settle` takes a miss's answer once it is whole: judged against the
cached answer it was compared with, stored if it is worth it, and handed to the requests following it (a
streamed miss goes through `settle_stream`: relayed through its flight as it arrives, settled when it ends
cleanly). Writes run off the request path.

Endpoints only parse their wire format, build an `Ask`, relay, and render; what happens to a request in the cache
is decided here (shadow sampling, ratings, counting followers' asks, which misses share an upstream call, the miss
delay), what is worth storing in `CacheLayers.remember`. Answers kept part by part by their exact keys alone
(each input's vector of an embeddings request) use `recall` and `keep`. What the gateway's own endpoints read of
the cache (health, admin, the dashboard) comes from `Readout`. What a request starts off the request path once
it is answered (a refresh, a prefetch, and whether it may) is decided by `background` (`BackgroundCalls`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from gateway.cache.asks import Ask, Following, Miss, Recall, number, shared_flight
from gateway.cache.background import BackgroundCalls, Errand, prefetch_errand
from gateway.cache.follow_ups import FollowUps
from gateway.cache.layers import CacheLayers, Hit, Lookup
from gateway.cache.learning import Feedback, Learning
from gateway.cache.notes import Notes
from gateway.cache.readout import Readout
from gateway.cache.refresh_budget import RefreshBudget
from gateway.cache.scopes import scope_of
from gateway.errors import CacheUnavailable, FlightFailed
from gateway.flight.capture import Failure, StreamAnswer, UpstreamBody, capture
from gateway.flight.flight import Flight, Head, Reader
from gateway.flight.flights import Flights
from gateway.tasks import Background
from gateway.wire.canonical import SHARED_TENANT, RequestKey
from gateway.wire.controls import Controls

__all__ = ["Ask", "CachePolicy", "Errand", "Feedback", "Following", "Hit", "Miss", "Recall", "prefetch_errand"]


class CachePolicy(Readout):
    def __init__(self, layers: CacheLayers, learning: Learning, flights: Flights, *, single_flight: bool,
                 miss_delay_ms: int, failure: Failure, budget: RefreshBudget | None = None,
                 follow_ups: FollowUps | None = None) -> None:
        self.layers = layers
        self._failure = failure  # what a client is told of an error, for a stream that breaks off
        self.learning = learning
        self.flights = flights
        self._single_flight = single_flight
        self._miss_delay = miss_delay_ms / 1000
        self._writes = Background()
        self.background = BackgroundCalls(layers, flights, budget=budget, follow_ups=follow_ups, defer=self.defer)
        self._notes = Notes(lambda items, ttl_ms: layers.write_guard.call(
            lambda: layers.store.put_blobs(items, ttl_ms=ttl_ms)))

    async def decide(self, ask: Ask) -> Hit | Following | Miss:
        key, lookup = ask.key, Lookup()
        if key is not None and ask.controls.lookup:
            try:
                lookup = await self.layers.lookup(key, ask.controls, api_key=ask.api_key)
            except CacheUnavailable:
                key, ask = None, replace(ask, key=None)
        hit = lookup.hit
        # A semantic hit found under the scope's own threshold is evidence about it; one the client's
        # x-cache-threshold reached is not, or any caller could loosen a scope at will: it is neither shadowed
        # nor open to a rating.
        evidence = hit is not None and hit.layer == "semantic" and ask.controls.threshold is None
        shadowed = evidence and self.learning.should_shadow()
        if hit is not None and not shadowed:
            if evidence:  # what a rating of this hit will be evidence about
                self.defer(self.learning.served(ask.caller, hit.entry, hit.distance or 0.0))
            return hit
        miss = Miss(ask, lookup, shadowed=shadowed, admitted=self.layers.admits(number(ask.temperature)))
        if self._single_flight and key is not None and ask.controls.lookup and miss.shareable:
            following = await self._share(miss, key)
            if following is not None:
                return following
        miss.flight = miss.flight or self.flights.private()
        if self._miss_delay:
            try:
                await asyncio.sleep(self._miss_delay)
            except BaseException:
                miss.flight.fail()  # cancelled while it waited: its followers must not wait for it
                raise
        return miss

    async def _share(self, miss: Miss, key: RequestKey) -> Following | None:
        """Join the flight of identical misses: lead it (the miss goes upstream), or follow its leader's answer.
        A failed leader is replaced by one of its followers, once; then each goes alone."""
        shared_key = shared_flight(key, miss.ask)
        for _ in range(2):
            flight, leading = await self.flights.join(shared_key)
            if leading:
                miss.flight = flight
                return None
            # A follower asked too, so admission counts it: with ADMIT_AFTER_ASKS=2, two identical concurrent
            # requests are two asks. (One whose leader fails and who then leads counts twice: rare, errs to caching.)
            with contextlib.suppress(CacheUnavailable):
                await self.layers.note_ask(key, miss.ask.controls)
            following = await self._follow(flight, stream=miss.ask.stream)
            if following is not None:
                return following
        return None

    async def _follow(self, flight: Flight, *, stream: bool) -> Following | None:
        """The flight's answer, or None when it failed before anything was relayed."""
        reader = flight.join(self.flights.timeout)
        try:
            head = await reader.head()
            body = None if stream else await reader.whole()
        except FlightFailed:
            reader.close()
            return None
        except BaseException:
            reader.close()
            raise
        if body is None:
            return Following(head.for_followers(), None, reader, None)
        reader.close()
        return Following(head.for_followers(), body, None, flight.usage)

    def settle(self, miss: Miss, answer: dict[str, Any] | None, *, head: Head | None = None,
               body: bytes = b"") -> None:
        """A miss's answer, once whole (None: it is not, or it is none the cache may keep). Given the `head` and
        `body` it was sent with, a complete answer is handed to the requests following the miss."""
        key = miss.key
        # Only a whole answer of the request's API is compared, kept or shared: an upstream's 200 may hold anything.
        if key is None or answer is None or not key.answers.complete(answer):
            return
        judged = miss.judged
        if judged is not None and judged.distance is not None:
            self.defer(self.learning.judge(scope_of(key), judged.distance, key.answers.reply(judged.completion),
                                           key.answers.reply(answer)))
        if not miss.shadowed:
            self.defer(self.layers.remember(key, answer, miss.ask.controls, vector=miss.vector,
                                            api_key=miss.ask.api_key, temperature=number(miss.ask.temperature),
                                            origin=miss.origin))
        if head is not None and miss.flight is not None:
            miss.flight.start(head)
            miss.flight.publish(body)
            miss.flight.end(usage=answer.get("usage"))

    def settle_stream(self, miss: Miss, head: Head, upstream: UpstreamBody, answer: StreamAnswer) -> Reader:
        """Relay a streamed miss through its flight, read from upstream by a task of its own that settles the
        answer when it ends cleanly; the reader is the miss's own client's (the caller closes it)."""
        flight = miss.flight
        assert flight is not None
        flight.start(head)
        reader = flight.join(self.flights.timeout)  # before the task starts: it stops when nobody reads
        flight.feed(capture(upstream, flight, answer, lambda whole: self.settle(miss, whole), self._failure))
        return reader

    async def rate(self, feedback: Feedback, *, caller: str) -> bool:
        """A client's rating of a semantic hit it was served; False when it names none. Raises CacheUnavailable."""
        return await self.layers.store_guard.call(
            lambda: self.learning.feedback(feedback, tenant=caller, shared=SHARED_TENANT))

    async def recall(self, keys: list[str] | None, controls: Controls, *, limit: int) -> Recall:
        """The exact layer alone, part by part, for an answer put together whole within `limit` bytes; `keys`
        None: the request cannot be kept so (a bypass)."""
        if keys is None:
            return Recall([], "bypass")
        nothing: list[bytes | None] = [None] * len(keys)
        if not controls.lookup:
            return Recall(nothing, "miss")
        try:
            parts = await self.layers.recall_blobs(keys, limit=limit)
        except CacheUnavailable:
            return Recall(nothing, "bypass")
        return Recall(nothing if parts is None else parts, "miss")

    def keep(self, parts: list[tuple[str, bytes]], controls: Controls) -> None:
        self.defer(self.layers.keep_blobs(parts, controls))

    def note(self, items: list[tuple[str, bytes]], *, ttl_secs: int) -> None:
        """Keep each value under its name: what the gateway issued that a later request may name (a response id),
        on its way to the store before the client can have read it (`gateway.cache.notes`)."""
        self._notes.add(items, ttl_ms=ttl_secs * 1000)

    async def note_now(self, items: list[tuple[str, bytes]], *, ttl_secs: int) -> bool:
        """`note`, waiting for the store; False when it could not."""
        layers = self.layers
        try:
            await layers.write_guard.call(lambda: layers.store.put_blobs(items, ttl_ms=ttl_secs * 1000))
        except CacheUnavailable:
            return False
        return True

    async def noted(self, names: list[str]) -> list[bytes | None]:
        """What was kept under each name; None also when the store cannot say."""
        layers = self.layers
        try:
            return await layers.store_guard.call(lambda: layers.store.get_blobs(names))
        except CacheUnavailable:
            return [None] * len(names)

    def defer(self, write: Coroutine[Any, Any, Any]) -> None:
        """Run a cache write after the response, off the request path; its failure is only a bypass."""
        self._writes.spawn(_quietly(write))

    async def drain(self) -> None:
        await self._notes.drain()
        await self._writes.wait(timeout=5)

    async def close(self) -> None:
        await self.drain()
        await self.flights.close()
        await self.layers.store.close()
        await self.layers.embedder.close()


async def _quietly(write: Coroutine[Any, Any, Any]) -> None:
    with contextlib.suppress(CacheUnavailable):  # the guard has logged the outage once
        await write
