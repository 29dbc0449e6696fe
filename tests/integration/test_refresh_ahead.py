"""Refresh-ahead through the official OpenAI SDK against a served gateway, on both stores: an exact answer served
often enough is refreshed by one background call to the counting fake upstream before it expires, so it never goes
cold; a cold one is not; and each route's budget of requests and tokens per hour is never passed."""

from __future__ import annotations

import time

import pytest

from tests.support.clients import PROMPT, UNRELATED, ask

# Answers live 3 s; one served twice is refreshed in the last half of its lifetime. (2 s left a loaded machine too
# little of that half to ask and settle four requests before the answers expired.)
AHEAD = {"RESP_TTL_SECS": "3", "RESP_TTL_SLIDING": "false", "REFRESH_AHEAD_HITS": "2",
         "REFRESH_AHEAD_SHARE": "0.5"}


def settled(gateway) -> None:
    gateway.drain()  # the refresh
    gateway.drain()  # the write it deferred


def hot(gateway, prompt: str = PROMPT) -> str:
    """Ask twice (a miss and a hit) and wait until the answer is due: its last half. Returns its content."""
    _, _, first = ask(gateway, prompt)
    assert ask(gateway, prompt)[0] == "hit"
    time.sleep(1.6)
    return first.choices[0].message.content


def test_a_hot_answer_is_refreshed_before_it_expires(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **AHEAD)
    first = hot(gateway)
    assert fake_upstream.calls() == 1  # served twice, but not yet due
    assert ask(gateway)[0] == "hit"  # its third serve, due: refreshed in the background
    settled(gateway)
    assert fake_upstream.calls() == 2
    time.sleep(1.5)  # the first answer has expired by now
    state, _, served = ask(gateway)
    assert state == "hit" and served.choices[0].message.content != first
    assert fake_upstream.calls() == 2


def test_an_answer_served_too_rarely_is_left_to_expire(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **AHEAD | {"REFRESH_AHEAD_HITS": "5"})
    hot(gateway)
    assert ask(gateway)[0] == "hit"
    settled(gateway)
    assert fake_upstream.calls() == 1
    time.sleep(1.5)
    assert ask(gateway)[0] == "miss"


def test_a_failed_refresh_keeps_the_answer_it_would_have_replaced(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **AHEAD)
    first = hot(gateway)
    fake_upstream.fail_next(500)
    ask(gateway)
    settled(gateway)
    assert fake_upstream.calls() == 2
    state, _, served = ask(gateway)
    assert state == "hit" and served.choices[0].message.content == first


def test_a_hit_asked_at_a_temperature_not_stored_refreshes_nothing(make_gateway, store_kind, fake_upstream) -> None:
    """Its refresh's answer could not replace the one served, so the next such hit would refresh it again: each
    one an upstream call out of the route's budget, which a client could spend so for everyone on a shared route."""
    gateway = make_gateway(store_kind, **AHEAD)
    hot(gateway)
    for _ in range(3):
        assert ask(gateway, temperature=1.8)[0] == "hit"
        settled(gateway)
    assert fake_upstream.calls() == 1
    assert ask(gateway)[0] == "hit"  # at a temperature whose answers are stored: refreshed
    settled(gateway)
    assert fake_upstream.calls() == 2


def test_the_request_budget_is_never_passed(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **AHEAD | {"REFRESH_BUDGET_REQUESTS": "1"})
    ask(gateway, UNRELATED)
    ask(gateway, UNRELATED)
    hot(gateway)
    for prompt in (PROMPT, UNRELATED, PROMPT, UNRELATED):
        assert ask(gateway, prompt)[0] == "hit"
        settled(gateway)
    assert fake_upstream.calls() == 3  # two misses, one refresh


@pytest.mark.parametrize("answers", [0, 1])
def test_the_token_budget_is_never_passed(make_gateway, store_kind, fake_upstream, answers: int) -> None:
    cost = ask(make_gateway("memory"), PROMPT)[2].usage.total_tokens
    fake_upstream.reset()
    budget = str(cost * answers + cost // 2)  # room for `answers` refreshes and a half
    gateway = make_gateway(store_kind, **AHEAD | {"REFRESH_BUDGET_TOKENS": budget})
    ask(gateway, UNRELATED)
    ask(gateway, UNRELATED)
    hot(gateway)
    for prompt in (PROMPT, UNRELATED, PROMPT, UNRELATED):
        ask(gateway, prompt)
        settled(gateway)
    assert fake_upstream.calls() == 2 + answers


def test_refresh_ahead_is_off_by_default(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, RESP_TTL_SECS="2", RESP_TTL_SLIDING="false")
    hot(gateway)
    for _ in range(3):
        ask(gateway)
    settled(gateway)
    assert fake_upstream.calls() == 1


def test_one_tenants_refreshes_leave_anothers_budget_alone(make_gateway, store_kind, fake_upstream) -> None:
    """The budget is per route and tenant: a caller whose hot answers spend its route's budget does not stop
    another caller's hot answer on the same route being refreshed."""
    gateway = make_gateway(store_kind, **AHEAD | {"REFRESH_BUDGET_REQUESTS": "1"})
    for key in ("sk-client-one", "sk-client-two"):
        ask(gateway, UNRELATED, key=key)
        assert ask(gateway, UNRELATED, key=key)[0] == "hit"
    time.sleep(1.6)
    for key in ("sk-client-one", "sk-client-one", "sk-client-two"):
        assert ask(gateway, UNRELATED, key=key)[0] == "hit"
        settled(gateway)
    assert fake_upstream.calls() == 4  # two misses, one refresh each: the first caller's second one is over budget
