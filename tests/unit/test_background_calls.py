"""What the cache starts off the request path, decided on tables: which refresh a hit starts, which requests
prefetch learns from and asks after, what a prefetch reserves of its budget; then carried out with the real
in-process store, flights and local embedder: a reservation corrected to what the call cost, a revalidation that
spends no budget, and a conversation's turn learnt only when it is somebody's follow-up."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import pytest

from gateway.cache.asks import Ask, Miss
from gateway.cache.background import (
    BackgroundCalls,
    Errand,
    asks_next,
    prefetch_after,
    prefetch_errand,
    refresh_after,
)
from gateway.cache.follow_ups import FollowUpConfig, FollowUps
from gateway.cache.layers import CacheLayers, Hit, PolicyConfig
from gateway.cache.learning import Learning
from gateway.cache.refresh_budget import RefreshBudget
from gateway.cache.scopes import scope_of
from gateway.embedding.local import LocalEmbedder
from gateway.flight.flight import LocalFlights
from gateway.flight.flights import Flights
from gateway.store.base import Stale
from gateway.store.memory import MemoryStore
from gateway.wire.canonical import SHARED_TENANT, chat_key
from gateway.wire.controls import Controls

OPENING = [{"role": "user", "content": "What is Redis?"}]
ANSWERED = [*OPENING, {"role": "assistant", "content": "An in-memory data store."}]
STALE = Stale(b"{}", expired_ms=1_000, age_ms=61_000)


def ask_of(turns: list[dict] = OPENING, *, tenant: str = "t", **controls: Any) -> Ask:
    key = chat_key({"messages": turns}, model="m", route="default", tenant=tenant)
    return Ask(key, Controls(**controls), "t", "sk-client", 0, True, (b"sse",))


FOLLOW_UP = ask_of([*ANSWERED, {"role": "user", "content": "Is it fast?"}])


def hit(layer: str = "exact", stale: Stale | None = None) -> Hit:
    return Hit({"usage": None}, layer, "entry", stale=stale)


@pytest.mark.parametrize(("served", "ahead", "warming", "errand"), [
    (hit(stale=STALE), False, False, "revalidate"),  # an expired answer is refreshed whatever refresh-ahead says
    (hit("semantic", STALE), True, False, "revalidate"),
    (hit(stale=STALE), True, True, "revalidate"),  # ... even after a warming run's hit: it is served expired
    (hit(), True, False, "ahead"),
    (hit(), False, False, None),  # refresh-ahead off
    (hit(), True, True, None),  # a warming run's hit is nobody's use
    (hit("semantic"), True, False, None),  # a paraphrase's answer is refreshed by its own request's hits
])
def test_which_refresh_a_hit_starts(served: Hit, ahead: bool, warming: bool, errand: str | None) -> None:
    ask = ask_of(warming=warming)
    started = refresh_after(ask, served, ahead=ahead, served=120)
    assert (started.kind if started is not None else None) == errand
    if started is not None:
        assert started.ask is ask
        # Refresh-ahead reserves what the answer it replaces cost; a revalidation spends no budget.
        assert started.reserved == (120 if errand == "ahead" else None)


@pytest.mark.parametrize(("on", "ask", "learnt"), [
    (True, ask_of(), True),
    (False, ask_of(), False),  # prefetch off
    (True, replace(ask_of(), key=None), False),  # a request the cache must not serve
    (True, ask_of(store=False), False),  # no-store: nothing of it is kept, its conversation neither
    (True, ask_of(lookup=False), True),  # no-cache still stores
    (True, ask_of(warming=True), False),  # a warming run's request teaches nothing and starts no prefetch
])
def test_which_conversations_prefetch_learns_from_and_asks_after(on: bool, ask: Ask, learnt: bool) -> None:
    assert prefetch_after(ask, on=on) is learnt


@pytest.mark.parametrize(("tenant", "on_gateways_account", "asked"), [
    ("t", False, True),  # a tenant's own conversations, on its own account
    ("t", True, True),
    (SHARED_TENANT, True, True),  # what everyone on a shared route taught, on the gateway's account
    (SHARED_TENANT, False, False),  # ... never on one client's own
])
def test_who_pays_for_a_shared_routes_prefetch(tenant: str, on_gateways_account: bool, asked: bool) -> None:
    context = ask_of(ANSWERED, tenant=tenant).key
    assert context is not None
    assert asks_next(context, on_gateways_account=on_gateways_account) is asked


@pytest.mark.parametrize(("served", "question", "reserved"), [
    ((100, 50), "", 200),  # the conversation served, its answer again in the prompt, an answer as long
    ((100, 50), "Why?", 201),  # about 4 characters a token
    ((100, 50), "Why??", 202),  # rounded up
    ((0, 0), "x" * 2_000, 500),
    ((7, 0), "Is it fast?", 10),
])
def test_what_a_prefetch_reserves(served: tuple[int, int], question: str, reserved: int) -> None:
    ask, follow_up = ask_of(), ask_of([*ANSWERED, {"role": "user", "content": question}])
    errand = prefetch_errand(ask, follow_up.key, (b"json",), served=served, question=question)
    assert errand.kind == "prefetch" and errand.reserved == reserved
    # Asked as the client would ask the question, in its scope and with its key, but read by nobody as it arrives.
    assert errand.ask == replace(ask, key=follow_up.key, stream=False, variant=(b"json",))


@pytest.fixture
async def layers():
    embedder = LocalEmbedder()
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    yield CacheLayers(store, embedder, PolicyConfig(threshold=0.2, ttl_secs=60, sliding=False, candidates=5),
                      retry_secs=1, learning=Learning(store, embedder, adaptive=None, shadow_rate=0.0))
    await embedder.close()


def calls(layers: CacheLayers, *, tokens: int, learnt: list | None = None) -> tuple[BackgroundCalls, RefreshBudget]:
    budget = RefreshBudget(layers.store, layers.write_guard, requests=10, tokens=tokens)
    follow_ups = FollowUps(layers.store, layers.prompts, layers.write_guard,
                           FollowUpConfig(min_prob=0.5, min_count=1, distance=0.2, ttl_ms=60_000))
    deferred: list[Coroutine[Any, Any, Any]] = [] if learnt is None else learnt
    return BackgroundCalls(layers, Flights(LocalFlights(), timeout=1), budget=budget, follow_ups=follow_ups,
                           defer=deferred.append), budget


def went(cost: int, sent: list[Miss]):
    async def go(miss: Miss) -> int:
        with miss:
            sent.append(miss)
            return cost
    return go


async def prefetched(layers: CacheLayers, *, budget_tokens: int, cost: int) -> tuple[list[Miss], RefreshBudget]:
    """A prefetch of about 90 tokens carried out, its call costing `cost`: the misses that went, and its budget."""
    background, budget = calls(layers, tokens=budget_tokens)
    sent: list[Miss] = []
    await background.run(prefetch_errand(ask_of(), FOLLOW_UP.key, (), served=(30, 30), question="Is it fast?"),
                         went(cost, sent))
    return sent, budget


async def test_a_prefetchs_reservation_is_corrected_to_what_it_cost(layers) -> None:
    sent, budget = await prefetched(layers, budget_tokens=100, cost=10)
    assert [miss.origin for miss in sent] == ["prefetch"]
    # 90 reserved, 10 spent: 90 more fit the hour's 100 only once the reservation was corrected.
    assert await budget.reserve(scope_of(FOLLOW_UP.key), 90)


async def test_a_prefetch_the_budget_has_no_room_for_never_goes(layers) -> None:
    sent, _ = await prefetched(layers, budget_tokens=50, cost=10)
    assert sent == []


async def test_a_revalidation_spends_no_budget(layers) -> None:
    background, budget = calls(layers, tokens=100)
    ask, sent = ask_of(), []
    await background.run(Errand(ask, "revalidate"), went(80, sent))
    assert [miss.origin for miss in sent] == ["refresh"]
    assert await budget.reserve(scope_of(ask.key), 100)


async def test_only_a_conversations_follow_up_is_learnt(layers) -> None:
    learnt: list[Coroutine[Any, Any, Any]] = []
    background, _ = calls(layers, tokens=100, learnt=learnt)
    assert background.conversing(ask_of(), follows_up=False)  # an opening: asked after, nothing to learn
    assert not background.conversing(replace(FOLLOW_UP, controls=Controls(warming=True)), follows_up=True)
    assert learnt == []
    assert background.conversing(FOLLOW_UP, follows_up=True)
    for learning in learnt:
        await learning
    context = ask_of([*ANSWERED, {"role": "user", "content": "?"}]).key
    assert await background.next_question(context, on_gateways_account=False) == "Is it fast?"
