"""What the cache starts off the request path once a request was answered: a stale answer's refresh, a hot exact
answer's refresh ahead of its expiry, a conversation's likely next question asked ahead of the client (and what
prefetch learns from each turn). The cache decides whether each runs and what it may spend; the web layer carries
it out as an `Errand`: it builds a follow-up's request with its wire format, goes upstream as the client would, and
tells `run` what the call cost, which led the errand's flight, reserved its budget and corrects the reservation.

The decisions that read nothing but the request and the hit (`refresh_after`, `prefetch_after`, `asks_next`,
`prefetch_errand`) are pure; the verbs that lead flights and spend budgets (`revalidate`, `ahead`, `prefetch`)
need the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal

from gateway.cache.asks import Ask, Miss, number, shared_flight
from gateway.cache.follow_ups import FollowUps
from gateway.cache.layers import CacheLayers, Hit, Lookup
from gateway.cache.refresh_budget import RefreshBudget
from gateway.cache.scopes import scope_of
from gateway.flight.flights import Flights
from gateway.wire.canonical import SHARED_TENANT, RequestKey, digest


@dataclass(frozen=True)
class Errand:
    """A background upstream call the cache decided on, asked as `ask` (a prefetch's: the next question's)."""

    ask: Ask
    kind: Literal["revalidate", "ahead", "prefetch"]
    reserved: int | None = None  # tokens of its scope's budget reserved before it goes; None: it spends no budget


def refresh_after(ask: Ask, hit: Hit, *, ahead: bool, served: int) -> Errand | None:
    """The refresh a hit just served to `ask` starts, if any: a stale answer's revalidation, or (with refresh-ahead
    on: `ahead`) an exact answer's refresh before it expires, reserving what the answer served cost (`served`
    tokens). A warming run's hit is nobody's use: it refreshes nothing ahead, which would spend outside the run's
    budget."""
    if hit.stale is not None:
        return Errand(ask, "revalidate")
    if hit.layer == "exact" and ahead and not ask.controls.warming:
        return Errand(ask, "ahead", served)
    return None


def prefetch_after(ask: Ask, *, on: bool) -> bool:
    """Whether the conversation `ask` is a turn of is learnt from and may be prefetched after: with prefetch on
    (`on`), for a request the cache may serve and store, made for somebody's use (a warming run's request teaches
    nothing, and a prefetch after it would spend outside the run's budget)."""
    return on and ask.key is not None and ask.controls.store and not ask.controls.warming


def asks_next(context: RequestKey, *, on_gateways_account: bool) -> bool:
    """Whether prefetch may ask a question after `context`: what everyone on a shared route taught is asked on the
    gateway's own upstream account only, never on one client's."""
    return context.tenant != SHARED_TENANT or on_gateways_account


def prefetch_errand(ask: Ask, key: RequestKey, variant: tuple[bytes, ...], *, served: tuple[int, int],
                    question: str) -> Errand:
    """The prefetch of `question`, whose request has `key` and `variant`, after `ask` was served an answer that cost
    `served` (prompt, completion) tokens; nobody reads it as it arrives, so it is not streamed. It reserves about
    what it will cost: its prompt holds the conversation served, that answer and the question (about 4 characters
    a token); its own answer is taken to be as long as the one it follows."""
    prompt, completion = served
    tokens = prompt + 2 * completion + -(-len(question) // 4)
    return Errand(replace(ask, key=key, stream=False, variant=variant), "prefetch", tokens)


class BackgroundCalls:
    def __init__(self, layers: CacheLayers, flights: Flights, *, budget: RefreshBudget | None,
                 follow_ups: FollowUps | None, defer: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        self.layers = layers
        self.flights = flights
        self._budget = budget  # what refresh-ahead and prefetch may spend; None: both are off
        self._follow_ups = follow_ups  # what prefetch learnt; None: it is off
        self._defer = defer  # the policy's: a cache write off the request path

    @property
    def refreshes_ahead(self) -> bool:
        return self._budget is not None and self.layers.config.ahead_hits > 0

    @property
    def prefetches(self) -> bool:
        return self._budget is not None and self._follow_ups is not None

    def refresh(self, ask: Ask, hit: Hit, *, served: int) -> Errand | None:
        """`refresh_after` with this gateway's refresh-ahead."""
        return refresh_after(ask, hit, ahead=self.refreshes_ahead, served=served)

    def conversing(self, ask: Ask, *, follows_up: bool) -> bool:
        """Whether the conversation `ask` is a turn of may be prefetched after (`prefetch_after`); if so, and its
        final turn goes on with a conversation the model already answered in (`follows_up`), that turn is learnt as
        one that followed its context. Called after `decide`: learning reads the prompt's vector from the lookup,
        which embedded it on an exact miss."""
        key, follow_ups = ask.key, self._follow_ups
        if key is None or follow_ups is None or not prefetch_after(ask, on=self.prefetches):
            return False
        if follows_up and key.prompt is not None:
            self._defer(follow_ups.learn(key.conversation, key.prompt, api_key=ask.api_key))
        return True

    async def next_question(self, context: RequestKey, *, on_gateways_account: bool) -> str | None:
        """The likely next question after the conversation `context` (its key with any question), when prefetch may
        ask one (`asks_next`). Raises CacheUnavailable."""
        if self._follow_ups is None or not asks_next(context, on_gateways_account=on_gateways_account):
            return None
        return await self._follow_ups.likely(context.conversation)

    async def run(self, errand: Errand, go: Callable[[Miss], Awaitable[int]]) -> None:
        """Carry `errand` out when it goes: `go` takes its miss upstream and says what the answer cost in tokens,
        which the reservation is corrected to. Raises CacheUnavailable."""
        ask, reserved = errand.ask, errand.reserved or 0
        if errand.kind == "revalidate":
            miss = await self.revalidate(ask)
        elif errand.kind == "ahead":
            miss = await self.ahead(ask, tokens=reserved)
        else:
            miss = await self.prefetch(ask, tokens=reserved)
        if miss is None:
            return
        tokens = await go(miss)
        if errand.reserved is not None and self._budget is not None and miss.key is not None:
            await self._budget.spent(scope_of(miss.key), reserved, tokens)

    async def revalidate(self, ask: Ask) -> Miss | None:
        """The miss that refreshes the stale answer `ask` was served, to go upstream off the request path; None
        when the request may not store, or another is refreshing it already (in this worker, or with Redis in the
        fleet): one upstream call per expired answer, however many are served it meanwhile."""
        key = ask.key
        if key is None or not ask.controls.store:
            return None
        return await self._lead(ask, digest(b"refresh", key.exact.encode()))

    async def _lead(self, ask: Ask, flight_key: str) -> Miss | None:
        """A background miss leading the flight `flight_key`; None when another leads it, or when its answer could
        not be stored (asked at a temperature the cache does not keep): no refresh of it would ever replace the
        answer served, so each serve would call again; and a client asking a prefetch's question at a temperature
        that is kept would follow it and be sent the hotter sample."""
        if not self.layers.admits(number(ask.temperature)):
            return None
        flight, leading = await self.flights.join(flight_key)
        if not leading:
            return None
        miss = Miss(ask, Lookup(), shadowed=False, admitted=True)
        miss.flight = flight
        miss.origin = "refresh"
        return miss

    async def ahead(self, ask: Ask, *, tokens: int) -> Miss | None:
        """The miss that refreshes the exact answer just served to `ask` before it expires: when it was served
        `ahead_hits` times since it was written and has no more than `ahead_share` of its lifetime left, nobody
        refreshes it already, and its scope's budget (its route's, for its tenant) has room for about `tokens` more.
        Raises CacheUnavailable."""
        layers, key, budget = self.layers, ask.key, self._budget
        if key is None or budget is None:
            return None
        standing = await layers.write_guard.call(lambda: layers.store.note_hit(key.exact))
        config = layers.config
        if standing is None or standing.hits < config.ahead_hits:
            return None
        if standing.left_ms > standing.ttl_ms * config.ahead_share:
            return None
        return await _budgeted(await self.revalidate(ask), budget, tokens)

    async def prefetch(self, ask: Ask, *, tokens: int) -> Miss | None:
        """The miss that fetches a likely next question's answer ahead of it: when it has no live exact answer,
        nobody asks it already, and its route's budget has room for about `tokens` more. It leads the flight an
        identical request joins (`shared_flight`), not a refresh's: a client asking the question meanwhile follows
        it instead of asking upstream again. Raises CacheUnavailable."""
        layers, key, budget = self.layers, ask.key, self._budget
        if key is None or budget is None or not ask.controls.lookup or not ask.controls.store:
            return None
        if await layers.store_guard.call(lambda: layers.store.read_answer(key.exact, refresh=False)) is not None:
            return None
        miss = await _budgeted(await self._lead(ask, shared_flight(key, ask)), budget, tokens)
        if miss is not None:
            miss.origin = "prefetch"
        return miss


async def _budgeted(miss: Miss | None, budget: RefreshBudget, tokens: int) -> Miss | None:
    """A background `miss`, once its route's budget has room for about `tokens` more."""
    if miss is None:
        return None
    assert miss.key is not None  # a background miss is for a cached answer's key
    # Nothing goes upstream without room, nor when the store failed or the task was cancelled: its flight (a
    # prefetch's is the one a client asking the question joins) must end, or that client waits for it.
    try:
        reserved = await budget.reserve(scope_of(miss.key), tokens)
    except BaseException:
        with miss:
            raise
    if not reserved:
        with miss:
            return None
    return miss
