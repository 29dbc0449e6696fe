"""Prefetch of likely follow-ups through the official OpenAI SDK against a served gateway, on both stores: once a
conversation's next question recurred often enough (paraphrases counted as one), a hit on that conversation asks it
in the background, once, with the client's credentials, so the client's follow-up is a hit; a rare one is not; the
route's budget holds; what one tenant's conversations teach is never used for another's; off by default."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, ask, client
from tests.support.events import events_of, served

OPENING = "What is the capital of France?"
FOLLOW_UP = PROMPT
PREFETCH = {"PREFETCH": "true", "PREFETCH_MIN_COUNT": "2", "PREFETCH_MIN_PROB": "0.5"}
BRIEF = {"x-cache-ttl": "1"}  # the follow-up's answer expires soon; the opening's lives a day


def settled(gateway) -> None:
    gateway.drain()  # the prefetch
    gateway.drain()  # the write it deferred


def opened(gateway, key: str = "sk-client-one", route: dict | None = None) -> list[dict]:
    """Open the conversation (a hit once its answer is cached); the history a client goes on with."""
    _, _, answer = ask(gateway, OPENING, key=key, headers=route)
    return [{"role": "user", "content": OPENING}, {"role": "assistant", "content": answer.choices[0].message.content}]


def taught(gateway, follow_ups: list[str], keys: tuple[str, ...] = ("sk-client-one",),
           route: dict | None = None) -> list[dict]:
    """Conversations (each key's turn by turn) that go on after the same answer with each of `follow_ups`, whose
    answers then expire."""
    for index, question in enumerate(follow_ups):
        key = keys[index % len(keys)]
        history = opened(gateway, key, route)
        ask(gateway, question, key=key, history=history, headers=BRIEF | (route or {}))
        gateway.drain()  # what was learnt
    time.sleep(1.1)
    return history


def test_a_recurring_follow_up_is_prefetched_so_it_is_a_hit(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH)
    history = taught(gateway, [FOLLOW_UP, PARAPHRASE])  # two wordings, one question
    calls = fake_upstream.calls()
    assert ask(gateway, OPENING)[0] == "hit"  # a third conversation reaches the same state
    settled(gateway)
    assert fake_upstream.calls() == calls + 1
    prefetched = fake_upstream.last()
    assert prefetched.json["messages"] == [*history, {"role": "user", "content": FOLLOW_UP}]
    assert prefetched.headers["authorization"] == "Bearer sk-client-one"
    assert ask(gateway, FOLLOW_UP, history=history)[0] == "hit"
    assert ask(gateway, OPENING)[0] == "hit"  # its answer is cached now: not asked again
    settled(gateway)
    assert fake_upstream.calls() == calls + 1


def test_what_was_learnt_after_one_answer_is_prefetched_after_the_next(make_gateway, store_kind,
                                                                      fake_upstream) -> None:
    """An expired opening is answered anew, in other words (the fake upstream never answers the same twice): the
    follow-ups users asked after its old answer are prefetched after the new one."""
    gateway = make_gateway(store_kind, **PREFETCH)
    for question in (FOLLOW_UP, PARAPHRASE):
        history = opened(gateway, route=BRIEF)
        ask(gateway, question, history=history)
    time.sleep(1.1)  # the opening's answer expires; the follow-ups' live on, after a wording nobody is served now
    renewed = opened(gateway, route=BRIEF)
    assert renewed != history
    calls = fake_upstream.calls()
    assert ask(gateway, OPENING)[0] == "hit"
    settled(gateway)
    assert fake_upstream.calls() == calls + 1
    assert fake_upstream.last().json["messages"] == [*renewed, {"role": "user", "content": FOLLOW_UP}]
    assert ask(gateway, FOLLOW_UP, history=renewed)[0] == "hit"


def test_a_client_asking_while_the_prefetch_is_on_its_way_follows_it(make_gateway, store_kind,
                                                                     fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH)
    history = taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    calls = fake_upstream.calls()
    fake_upstream.delay_next(1.0)  # the prefetch's answer takes a second
    raw = client(gateway, "sk-client-one").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": OPENING}])
    assert raw.headers["x-cache"] == "hit"
    time.sleep(0.3)  # the prefetch has gone upstream, not come back
    state, headers, _ = ask(gateway, FOLLOW_UP, history=history)
    assert (state, headers.get("x-cache-layer")) == ("hit", "flight")
    settled(gateway)
    assert fake_upstream.calls() == calls + 1


def test_a_prefetch_is_an_event_and_metrics_say_what_it_cost(make_gateway, store_kind, fake_upstream) -> None:
    gateway = served(make_gateway, store_kind, **PREFETCH)
    taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    ask(gateway, OPENING)
    settled(gateway)
    [prefetch] = [event for event in events_of(gateway) if event.event == "prefetch"]
    assert prefetch.outcome == "refresh" and prefetch.status == 200 and prefetch.upstream_ms is not None
    tokens = prefetch.prompt_tokens + prefetch.completion_tokens
    assert tokens > 0
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'latency_slayer_background_calls{window="1m",kind="prefetch"} 1' in text.splitlines()
    assert f'latency_slayer_background_tokens{{window="1m",kind="prefetch"}} {tokens}' in text.splitlines()


def test_a_follow_up_seen_too_rarely_is_not_prefetched(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH | {"PREFETCH_MIN_COUNT": "3"})
    history = taught(gateway, [FOLLOW_UP, PARAPHRASE])
    calls = fake_upstream.calls()
    ask(gateway, OPENING)
    settled(gateway)
    assert fake_upstream.calls() == calls
    assert ask(gateway, FOLLOW_UP, history=history)[0] == "miss"


def test_a_follow_up_too_unlikely_is_not_prefetched(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", **PREFETCH | {"PREFETCH_MIN_PROB": "0.6"})
    taught(gateway, [FOLLOW_UP, PARAPHRASE, "Tell me a joke about databases.", "Which port does Redis use?"])
    calls = fake_upstream.calls()
    ask(gateway, OPENING)
    settled(gateway)
    assert fake_upstream.calls() == calls  # the likeliest is half of them


def prefetched_thrice(gateway, fake_upstream) -> int:
    """Upstream calls made by three hits of a taught conversation, each due a prefetch: what it prefetches lives a
    second."""
    taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    calls = fake_upstream.calls()
    for _ in range(3):
        assert ask(gateway, OPENING, headers=BRIEF)[0] == "hit"
        settled(gateway)
        time.sleep(1.1)
    return fake_upstream.calls() - calls


@pytest.mark.parametrize("prefetches", [0, 1])
def test_prefetch_keeps_within_the_routes_request_budget(make_gateway, store_kind, fake_upstream,
                                                         prefetches: int) -> None:
    gateway = make_gateway(store_kind, **PREFETCH | {"REFRESH_BUDGET_REQUESTS": str(prefetches)})
    assert prefetched_thrice(gateway, fake_upstream) == prefetches


def prefetched_tokens(make_gateway) -> int:
    """What the prefetch of FOLLOW_UP after OPENING costs upstream, measured once on a gateway of its own."""
    gateway = served(make_gateway, "memory", **PREFETCH)
    taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    ask(gateway, OPENING)
    settled(gateway)
    [prefetch] = [event for event in events_of(gateway) if event.event == "prefetch"]
    return prefetch.prompt_tokens + prefetch.completion_tokens


@pytest.mark.parametrize("prefetches", [0, 1])
def test_prefetch_keeps_within_the_routes_token_budget(make_gateway, store_kind, fake_upstream,
                                                       prefetches: int) -> None:
    """A prefetch's prompt holds the conversation served and its answer: it costs more than that answer did, and
    reserving only that would let a second prefetch start in a budget with room for one."""
    cost = prefetched_tokens(make_gateway)
    fake_upstream.reset()
    gateway = make_gateway(store_kind, **PREFETCH | {"REFRESH_BUDGET_TOKENS": str(cost * prefetches + cost // 2)})
    assert prefetched_thrice(gateway, fake_upstream) == prefetches


def test_another_tenants_conversations_teach_nothing(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH)
    history = taught(gateway, [FOLLOW_UP])  # once: one short of the floor
    # Another key (another tenant) going on from the same history, as if it had been served that answer.
    ask(gateway, FOLLOW_UP, key="sk-client-two", history=history, headers=BRIEF)
    ask(gateway, PARAPHRASE, key="sk-client-two", history=history, headers=BRIEF)
    gateway.drain()
    calls = fake_upstream.calls()
    ask(gateway, OPENING)
    settled(gateway)
    assert fake_upstream.calls() == calls


def test_prefetch_is_off_by_default(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **{name: value for name, value in PREFETCH.items() if name != "PREFETCH"})
    history = taught(gateway, [FOLLOW_UP, FOLLOW_UP, FOLLOW_UP])
    calls = fake_upstream.calls()
    ask(gateway, OPENING)
    settled(gateway)
    assert fake_upstream.calls() == calls
    assert ask(gateway, FOLLOW_UP, history=history)[0] == "miss"


def test_on_a_shared_route_everyone_teaches_and_the_gateways_account_prefetches(make_gateway, store_kind,
                                                                               fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH, SHARED_ROUTES="faq", GATEWAY_API_KEYS="gw-alice, gw-bob, gw-carol")
    faq = {"x-route": "faq"}
    history = taught(gateway, [FOLLOW_UP, PARAPHRASE], keys=("gw-alice", "gw-bob"), route=faq)  # once each
    calls = fake_upstream.calls()
    ask(gateway, OPENING, key="gw-carol", headers=faq)
    settled(gateway)
    assert fake_upstream.calls() == calls + 1
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert ask(gateway, FOLLOW_UP, key="gw-carol", history=history, headers=faq)[0] == "hit"


def test_on_a_shared_route_no_clients_own_account_pays_for_what_others_taught(make_gateway, store_kind,
                                                                             fake_upstream) -> None:
    gateway = make_gateway(store_kind, **PREFETCH, SHARED_ROUTES="faq")
    faq = {"x-route": "faq"}
    taught(gateway, [FOLLOW_UP, PARAPHRASE], keys=("sk-client-one", "sk-client-two"), route=faq)
    calls = fake_upstream.calls()
    ask(gateway, OPENING, key="sk-client-three", headers=faq)
    settled(gateway)
    assert fake_upstream.calls() == calls


def test_on_a_shared_route_no_gateway_keys_own_account_pays_for_what_others_taught(make_gateway, store_kind,
                                                                                   fake_upstream) -> None:
    keys = '{"gw-alice": null, "gw-bob": null, "gw-carol": "sk-carols-own-account"}'
    gateway = make_gateway(store_kind, **PREFETCH, SHARED_ROUTES="faq", GATEWAY_API_KEYS=keys)
    faq = {"x-route": "faq"}
    taught(gateway, [FOLLOW_UP, PARAPHRASE], keys=("gw-alice", "gw-bob"), route=faq)
    calls = fake_upstream.calls()
    ask(gateway, OPENING, key="gw-carol", headers=faq)  # a hit, by a key whose upstream account is its own
    settled(gateway)
    assert fake_upstream.calls() == calls
