"""Single-flight through the official OpenAI SDK against served gateways and a fake upstream that takes its
time: identical concurrent misses make one upstream call and every caller gets the same answer (a stream fanned
out as it arrives), within one gateway and across two sharing a Redis; what the cache would keep apart stays
apart, the leader's account headers included (a leader that fails: test_single_flight_failures.py)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.support.clients import client
from tests.support.events import events_of, served
from tests.support.flights import PROMPT, N, ask, shared_gateways, states, stream, together


def test_identical_concurrent_misses_make_one_upstream_call(make_gateway, fake_upstream, store_kind) -> None:
    gateway = make_gateway(store_kind)
    fake_upstream.latency = 0.5
    results = together([lambda: ask(gateway)] * N)
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == 1
    assert states(results) == [("hit", "flight")] * (N - 1) + [("miss", None)]
    assert len({(text, ident) for _, _, text, ident in results}) == 1  # the very same answer, byte for byte
    gateway.drain()
    assert ask(gateway)[:2] == ("hit", "exact")  # and the leader stored it
    assert fake_upstream.calls() == 1


def test_misses_held_by_a_miss_delay_still_share_one_upstream_call(make_gateway, fake_upstream) -> None:
    """MISS_DELAY_MS (the demo's simulated upstream time) holds the leader before it goes upstream: those that
    arrive meanwhile follow it, they do not go upstream themselves."""
    gateway = make_gateway("memory", MISS_DELAY_MS="300")
    results = together([lambda: ask(gateway)] * 4)
    assert states(results) == [("hit", "flight")] * 3 + [("miss", None)], results
    assert fake_upstream.calls() == 1


def test_followers_count_as_asks_for_admission(make_gateway, fake_upstream, store_kind) -> None:
    """ADMIT_AFTER_ASKS=2 stores what was asked twice: two at once are twice, though one call went upstream."""
    gateway = make_gateway(store_kind, ADMIT_AFTER_ASKS="2")
    fake_upstream.latency = 0.5
    results = together([lambda: ask(gateway)] * 2)
    assert states(results) == [("hit", "flight"), ("miss", None)], results
    gateway.drain()
    assert ask(gateway)[:2] == ("hit", "exact")
    assert ask(gateway, "Asked once, alone.")[0] == "miss"
    gateway.drain()
    assert ask(gateway, "Asked once, alone.")[0] == "miss"  # the second ask is stored, not served
    assert fake_upstream.calls() == 3


def test_a_streamed_miss_is_fanned_out_to_every_follower_as_it_arrives(make_gateway, fake_upstream,
                                                                       store_kind) -> None:
    gateway = make_gateway(store_kind)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.3, 0.1  # ~1 s from the first chunk to the last
    results = together([lambda: stream(gateway, stream_options={"include_usage": True})] * N)
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == 1
    assert states(results) == [("hit", "flight")] * (N - 1) + [("miss", None)]
    streams = [chunks for _, _, chunks, _, _ in results]
    assert all(chunks == streams[0] for chunks in streams) and streams[0][-1]["usage"]["completion_tokens"] > 0
    # Every follower had its first chunk long before the leader had its last: relayed live, not at the end.
    leader_done = next(last for state, _, _, _, last in results if state == "miss")
    assert all(first < leader_done - 0.5 for state, _, _, first, _ in results if state == "hit")


def test_a_follower_arriving_mid_stream_gets_the_whole_stream(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    fake_upstream.chunk_delay = 0.1
    box: list[tuple] = []
    first = threading.Thread(target=lambda: box.append(stream(gateway)))
    first.start()
    time.sleep(0.5)  # the leader is halfway through its answer
    late = stream(gateway)
    first.join(10)
    assert (late[0], late[1]) == ("hit", "flight") and late[2] == box[0][2]
    assert fake_upstream.calls() == 1


@pytest.mark.parametrize(("second", "calls"), [
    ({"key": "sk-client-two"}, 2),  # another tenant never shares, not even an answer on its way
    ({"prompt": "Which planet has the fewest moons?"}, 2),
    ({"temperature": 1.5}, 2),  # too random to store: its own answer
    ({"headers": {"cache-control": "no-cache"}}, 2),  # asked for a fresh answer
    ({"stream": True}, 2),  # other bytes
    ({"temperature": 0.2, "headers": {"cache-control": "no-store"}}, 1),  # would be served from the cache
])
def test_only_requests_that_could_share_a_cached_answer_share_a_flight(make_gateway, fake_upstream, second: dict,
                                                                       calls: int) -> None:
    gateway = make_gateway("memory")
    fake_upstream.latency = 0.5
    other = dict(second)
    streamed = other.pop("stream", False)
    asking = (lambda: stream(gateway, **other)) if streamed else (lambda: ask(gateway, **other))
    results = together([lambda: ask(gateway), asking])
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == calls


def test_without_single_flight_every_miss_goes_upstream(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", SINGLE_FLIGHT="false")
    fake_upstream.latency = 0.5
    results = together([lambda: ask(gateway)] * N)
    assert states(results) == [("miss", None)] * N
    assert fake_upstream.calls() == N


@pytest.mark.parametrize("streamed", [False, True])
def test_identical_misses_across_workers_make_one_upstream_call(make_gateway, fake_upstream, streamed: bool) -> None:
    one, two = shared_gateways(make_gateway, 2)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.05
    call = stream if streamed else ask
    results = together([lambda: call(one), lambda: call(two)] * (N // 2))
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == 1
    assert states(results) == [("hit", "flight")] * (N - 1) + [("miss", None)]
    assert len({repr(result[2:4] if not streamed else result[2]) for result in results}) == 1


def test_followers_are_counted_as_flight_hits(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    fake_upstream.latency = 0.3
    together([lambda: ask(gateway)] * 3)
    events = events_of(gateway)
    followers = [event for event in events if event.layer == "flight"]
    assert len(events) == 3 and len(followers) == 2
    assert all(event.outcome == "hit" and event.tokens_saved > 0 and event.upstream_ms is None for event in followers)
    summary = gateway.run(_dashboard_summary(gateway))
    assert summary["layers"]["flight"] == 2 and summary["outcomes"]["hit"] == 2


async def _dashboard_summary(gateway) -> dict:
    from gateway.metrics.stats import summary

    events, _ = await gateway.gateway.events.sink.read_after(None, since_ms=0, limit=1000)
    return summary(events)


ACCOUNT_HEADERS = {"openai-organization": "org-tenant-a", "openai-project": "proj_a", "x-request-id": "req_a",
                   "x-ratelimit-remaining-requests": "41", "set-cookie": "__cf_bm=tenant-a; path=/"}


@pytest.mark.parametrize("streamed", [False, True])
def test_followers_never_get_the_leaders_account_headers(make_gateway, fake_upstream, streamed: bool) -> None:
    gateway = make_gateway("memory", SHARED_ROUTES="faq")  # tenants share answers there, so flights too
    fake_upstream.latency, fake_upstream.chat_headers = 0.5, ACCOUNT_HEADERS

    def call(key: str) -> dict[str, str]:
        create = client(gateway, key).chat.completions.with_raw_response.create
        raw = create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=streamed,
                     extra_headers={"x-route": "faq"})
        raw.parse() if not streamed else list(raw.parse())
        return dict(raw.headers)

    results = together([lambda: call("sk-tenant-a"), lambda: call("sk-tenant-b")])
    assert fake_upstream.calls() == 1, results
    leader = next(headers for headers in results if headers["x-cache"] == "miss")
    follower = next(headers for headers in results if headers["x-cache"] == "hit")
    # The leader's own, as without the gateway (the upstream's request id beside the gateway's own).
    assert {**ACCOUNT_HEADERS, "x-upstream-request-id": ACCOUNT_HEADERS["x-request-id"]}.items() - {
        ("x-request-id", "req_a")} <= leader.items()
    assert leader["x-request-id"] != "req_a" and follower["x-request-id"] != leader["x-request-id"]
    assert not (ACCOUNT_HEADERS.keys() - {"x-request-id"}) & follower.keys(), follower
    assert "x-upstream-request-id" not in follower
    assert follower["content-type"].startswith("text/event-stream" if streamed else "application/json")


def test_the_leaders_account_headers_never_reach_redis(make_gateway, fake_upstream, redis_server) -> None:
    one, two = shared_gateways(make_gateway, 2)
    fake_upstream.latency, fake_upstream.chunk_delay, fake_upstream.chat_headers = 0.5, 0.05, ACCOUNT_HEADERS
    results = together([lambda: stream(one), lambda: stream(two)])
    assert fake_upstream.calls() == 1 and states(results) == [("hit", "flight"), ("miss", None)]
    with redis.Redis.from_url(redis_server.url) as admin:
        streams = [key for key in admin.scan_iter(match="*flight:*") if admin.type(key) == b"stream"]
        published = b"".join(repr(admin.xrange(key)).encode() for key in streams)
    assert streams and b"text/event-stream" in published  # the head was published, with what followers need
    for name in ACCOUNT_HEADERS:  # names, not values: a short value like "41" may occur in any chunk
        assert name.encode() not in published
