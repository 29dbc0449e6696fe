"""Stale-while-revalidate through the official OpenAI SDK against a served gateway, on both stores: an answer that
expired within the route's or the client's window (never beyond the operator's maximum) is served at once, and one
background call to the counting fake upstream replaces it with a complete answer."""

from __future__ import annotations

import time
import uuid

import httpx
import openai
import pytest

from tests.support.clients import ask, stream, text_of
from tests.support.events import served, settle

FAQ = {"x-route": "faq"}
TTL = {"RESP_TTL_SECS": "1", "RESP_TTL_SLIDING": "false"}


@pytest.fixture
def stale_gateway(make_gateway, store_kind):
    """Answers live 1 s; route `faq` accepts them 30 s past that, and no window may pass 60 s."""
    return make_gateway(store_kind, **TTL, STALE_MAX_SECS="60", STALE_ROUTES="faq=30")


def settled(gateway) -> None:
    gateway.drain()  # the refresh
    gateway.drain()  # the write it deferred


def test_an_expired_answer_is_served_at_once_and_refreshed_by_one_call(stale_gateway, fake_upstream) -> None:
    _, _, first = ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    state, headers, served = ask(stale_gateway, headers=FAQ)
    assert state == "hit" and headers["x-cache-layer"] == "exact"
    assert int(headers["x-cache-stale"]) < 30 and int(headers["age"]) >= 1
    assert served.choices[0].message.content == first.choices[0].message.content
    settled(stale_gateway)
    assert fake_upstream.calls() == 2  # the refresh
    state, headers, fresh = ask(stale_gateway, headers=FAQ)
    assert state == "hit" and "x-cache-stale" not in headers
    assert fresh.choices[0].message.content != first.choices[0].message.content  # the refreshed answer
    assert fake_upstream.calls() == 2


def test_concurrent_stale_serves_share_one_refresh(stale_gateway, fake_upstream) -> None:
    ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    fake_upstream.delay_next(1.0)  # the refresh is still on its way while the others are served
    states = [ask(stale_gateway, headers=FAQ)[0] for _ in range(4)]
    assert states == ["hit"] * 4
    settled(stale_gateway)
    assert fake_upstream.calls() == 2


def test_an_upstream_error_never_replaces_the_stale_answer(stale_gateway, fake_upstream) -> None:
    _, _, first = ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    fake_upstream.fail_next(500)
    assert ask(stale_gateway, headers=FAQ)[0] == "hit"
    settled(stale_gateway)
    state, headers, served = ask(stale_gateway, headers=FAQ)  # still stale: the failed refresh stored nothing
    assert state == "hit" and "x-cache-stale" in headers
    assert served.choices[0].message.content == first.choices[0].message.content
    settled(stale_gateway)
    assert fake_upstream.calls() == 3
    assert "x-cache-stale" not in ask(stale_gateway, headers=FAQ)[1]


def test_a_broken_refresh_stream_never_replaces_the_stale_answer(stale_gateway, fake_upstream) -> None:
    stream(stale_gateway, extra_headers=FAQ)
    time.sleep(1.2)
    fake_upstream.break_stream_next()
    state, chunks = stream(stale_gateway, extra_headers=FAQ)
    assert state == "hit" and text_of(chunks)
    settled(stale_gateway)
    assert stream(stale_gateway, extra_headers=FAQ)[0] == "hit"
    settled(stale_gateway)
    assert fake_upstream.calls() == 3  # the broken refresh, then a whole one
    assert ask(stale_gateway, headers=FAQ, stream=False)[1].get("x-cache-stale") is None


def test_a_route_without_a_window_is_a_miss_once_expired(stale_gateway, fake_upstream) -> None:
    ask(stale_gateway)
    time.sleep(1.2)
    assert ask(stale_gateway)[0] == "miss"


def test_a_client_window_is_bounded_by_the_operator_maximum(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, **TTL, STALE_MAX_SECS="1")
    asking = {"cache-control": "max-stale=86400"}
    ask(gateway)
    time.sleep(1.2)
    state, headers, _ = ask(gateway, headers=asking)  # expired 0.2 s ago: within the 1 s allowed
    assert state == "hit" and headers["x-cache-stale"] == "0"
    settled(gateway)
    time.sleep(2.3)  # the refreshed answer expired 1.3 s ago: past the maximum, whatever the client asks
    assert ask(gateway, headers=asking)[0] == "miss"


def test_a_client_may_ask_for_staleness_or_refuse_it(stale_gateway, fake_upstream) -> None:
    ask(stale_gateway)
    ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    assert ask(stale_gateway, headers={"cache-control": "max-stale=0"} | FAQ)[0] == "miss"
    assert ask(stale_gateway, headers={"cache-control": "stale-while-revalidate=10"})[0] == "hit"


def test_a_stale_answer_never_crosses_tenants(stale_gateway, fake_upstream) -> None:
    ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    assert ask(stale_gateway, key="sk-client-two", headers=FAQ)[0] == "miss"


@pytest.mark.parametrize("value", ["max-stale=abc", "stale-while-revalidate", "max-stale=-1", "max-stale=1.5"])
def test_a_bad_staleness_directive_is_a_400(stale_gateway, value: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        ask(stale_gateway, headers={"cache-control": value})
    assert raised.value.body["param"] == "cache-control"


def test_stale_serves_and_refreshes_are_counted(make_gateway, store_kind, fake_upstream) -> None:
    stale_gateway = served(make_gateway, store_kind, **TTL, STALE_MAX_SECS="60", STALE_ROUTES="faq=30")
    ask(stale_gateway, headers=FAQ)
    time.sleep(1.2)
    ask(stale_gateway, headers=FAQ)
    settled(stale_gateway)
    settle(stale_gateway)
    lines = httpx.get(f"{stale_gateway.url}/metrics").text.splitlines()
    assert 'latency_slayer_hits{window="1m",layer="stale"} 1' in lines
    assert 'latency_slayer_requests{window="1m",outcome="refresh"} 1' in lines


def test_replicas_on_one_redis_share_one_refresh(make_gateway, fake_upstream) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    shared = {**TTL, "STALE_MAX_SECS": "60", "STALE_ROUTES": "faq=30", "INDEX_NAME": f"idx:{name}",
              "KEY_PREFIX": f"{name}:"}
    first, second = make_gateway("redis", **shared), make_gateway("redis", **shared)
    ask(first, headers=FAQ)
    time.sleep(1.2)
    fake_upstream.delay_next(1.0)  # the first replica's refresh is still on its way when the second serves
    assert ask(first, headers=FAQ)[0] == "hit"
    assert ask(second, headers=FAQ)[0] == "hit"
    settled(first)
    settled(second)
    assert fake_upstream.calls() == 2
