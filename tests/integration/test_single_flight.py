"""Single-flight through the official OpenAI SDK against served gateways and a fake upstream that takes its
time: identical concurrent misses make one upstream call and every caller gets the same answer (a stream fanned
out as it arrives), within one gateway and across two sharing a Redis; what the cache would keep apart stays
apart; a failed leader is replaced; Redis refusing the flight commands still serves everyone."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import openai
import pytest
import redis

from gateway.errors import FlightFailed
from gateway.flight.flight import Head, LocalFlights
from tests.support.clients import client
from tests.support.events import events_of, served

PROMPT = "Which planet has the most moons?"
N = 8


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread; an exception is returned in its place."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def ask(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", headers: dict | None = None, **params):
    """One non-streamed call: (x-cache, x-cache-layer, answer text, completion id)."""
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], extra_headers=headers, **params)
    completion = raw.parse()
    return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), completion.choices[0].message.content, \
        completion.id


def stream(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", **params):
    """One streamed call: (x-cache, x-cache-layer, the chunks as dicts, first-chunk and last-chunk times)."""
    with client(gateway, key).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True, **params) as raw:
        chunks, times = [], []
        for chunk in raw.parse():
            chunks.append(chunk.model_dump())
            times.append(time.monotonic())
        return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), chunks, times[0], times[-1]


def states(results: list[tuple]) -> list[tuple[str, str | None]]:
    return sorted((result[0], result[1]) for result in results)


def shared_gateways(make_gateway, count: int, **env: str) -> list:
    """`count` gateways on one Redis with the same index and key prefix: workers of one deployment."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return [make_gateway("redis", INDEX_NAME=f"idx:{name}", KEY_PREFIX=f"{name}:", **env) for _ in range(count)]


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


@pytest.mark.parametrize("streamed", [False, True])
def test_a_failed_leader_is_replaced_by_a_follower(make_gateway, fake_upstream, streamed: bool) -> None:
    gateway = make_gateway("memory")
    fake_upstream.latency = 0.5
    fake_upstream.fail_next(500)
    call = stream if streamed else ask
    results = together([lambda: call(gateway)] * N)
    failed = [result for result in results if isinstance(result, openai.InternalServerError)]
    served_ = [result for result in results if isinstance(result, tuple)]
    assert len(failed) == 1 and len(served_) == N - 1, results  # only the leader saw its upstream's error
    assert fake_upstream.calls() == 2  # one follower went upstream in its place; the others followed it
    assert states(served_) == [("hit", "flight")] * (N - 2) + [("miss", None)]


def test_a_failed_leader_in_another_worker_is_replaced(make_gateway, fake_upstream) -> None:
    one, two = shared_gateways(make_gateway, 2)
    fake_upstream.latency = 1.0
    fake_upstream.fail_next(500)
    failed: list[Any] = []
    followers: list[Any] = []
    leader = threading.Thread(target=lambda: failed.append(_error_of(lambda: ask(one))))
    leader.start()
    time.sleep(0.2)  # it leads, in the other worker
    others = threading.Thread(target=lambda: followers.extend(together([lambda: ask(two)] * 3)))
    others.start()
    time.sleep(0.5)
    assert fake_upstream.calls() == 1  # they follow the leader of the other worker, not going upstream
    leader.join(10)
    others.join(10)
    assert isinstance(failed[0], openai.InternalServerError)
    assert states(followers) == [("hit", "flight"), ("hit", "flight"), ("miss", None)]
    assert fake_upstream.calls() == 2


def _error_of(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:
        return error


def _stream_then_hang_up(port: int, prompt: str) -> None:
    body = (b'{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "'
            + prompt.encode() + b'"}]}')
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               b"authorization: Bearer sk-client-one\r\ncontent-length: %d\r\n\r\n" % len(body)) + body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while b"data:" not in received:
            received += sock.recv(4096)


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_the_leaders_client_leaving_does_not_cut_its_followers(make_gateway, fake_upstream, store: str) -> None:
    gateway = make_gateway(store)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.1  # the follower joins while the leader waits
    results: list[Any] = []
    follower = threading.Thread(target=lambda: results.append(stream(gateway)))
    leader = threading.Thread(target=_stream_then_hang_up, args=(gateway.port, PROMPT))
    leader.start()
    time.sleep(0.1)
    follower.start()
    leader.join(10)
    follower.join(10)
    state, layer, chunks, _, _ = results[0]
    assert (state, layer) == ("hit", "flight") and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert fake_upstream.calls() == 1
    gateway.drain()
    assert stream(gateway)[:2] == ("hit", "exact")  # read to its end for the follower, so stored too


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


def test_redis_refusing_the_flight_commands_still_serves_everyone(make_gateway, fake_upstream, redis_server) -> None:
    user, password = f"noflight{uuid.uuid4().hex[:6]}", "pw"
    with redis.Redis.from_url(redis_server.url) as admin:  # every command but SET, which elects a leader
        admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
                          commands=["+@all", "-set"])
    url = redis_server.url.replace("redis://", f"redis://{user}:{password}@")
    one, two = shared_gateways(make_gateway, 2, REDIS_URL=url)
    fake_upstream.latency = 0.5
    results = together([lambda: ask(one), lambda: ask(two)] * (N // 2))
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls() == 2  # no leader across workers, but still one per worker


def test_a_hung_leader_in_another_worker_holds_its_followers_only_as_long_as_its_lease(make_gateway,
                                                                                       fake_upstream) -> None:
    one, two = shared_gateways(make_gateway, 2)  # UPSTREAM_TIMEOUT_SECS stays at its 600 s
    fake_upstream.latency = 0.5
    leader = threading.Thread(target=lambda: _error_of(lambda: ask(one)))
    leader.start()
    time.sleep(0.2)  # it leads; now its worker hangs, renewing nothing
    hang = threading.Thread(target=lambda: one.run(_hang(8.0)))
    hang.start()
    started = time.monotonic()
    state, layer, _, _ = ask(two)
    waited = time.monotonic() - started
    assert (state, layer) == ("miss", None) and waited < 6.0, waited  # lease 3 s, then upstream itself
    hang.join(15)
    leader.join(15)


async def _hang(seconds: float) -> None:
    time.sleep(seconds)  # blocks the gateway's event loop, as a stuck worker would


def test_a_flight_that_failed_after_its_head_is_not_followed() -> None:
    async def scenario() -> None:
        flight, _ = LocalFlights().join("k")
        flight.start(Head(200, [("content-type", "text/event-stream")]))
        flight.publish(b"data: first\n\n")
        flight.fail()
        with pytest.raises(FlightFailed):  # a follower relayed nothing yet: it goes upstream, not a 200 then a 504
            await flight.join(5).head()

    asyncio.run(scenario())


def test_a_request_arriving_while_an_abandoned_flight_closes_its_upstream_leads_anew() -> None:
    async def scenario() -> None:
        flights = LocalFlights()
        flight, _ = flights.join("k")
        flight.start(Head(200, []))
        leader = flight.join(5)

        async def producer() -> None:
            flight.publish(b"data: first\n\n")
            try:
                await asyncio.sleep(5)
            finally:
                await asyncio.sleep(0.01)  # closing the upstream request takes a moment
            flight.end()

        flight.feed(producer())
        await asyncio.sleep(0.01)
        leader.close()  # the leader's client hangs up: the producer is cancelled
        again, leading = flights.join("k")  # identical request in that very moment
        assert leading and again is not flight
        await flights.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("pause_ms", [800, 1600])  # the second outlasts a follower's blocking read too
def test_a_redis_stall_does_not_break_streamed_followers_in_another_worker(make_gateway, fake_upstream,
                                                                          redis_server, pause_ms: int) -> None:
    one, two = shared_gateways(make_gateway, 2)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.3, 0.15
    out: dict[str, Any] = {}
    leader = threading.Thread(target=lambda: out.__setitem__("leader", _error_of(lambda: stream(one))))
    leader.start()
    time.sleep(0.1)
    follower = threading.Thread(target=lambda: out.__setitem__("follower", _error_of(lambda: stream(two))))
    follower.start()
    time.sleep(0.8)  # both are mid-stream
    with redis.Redis.from_url(redis_server.url) as admin:
        admin.execute_command("CLIENT", "PAUSE", str(pause_ms), "ALL")  # a stall, as for a fork or a failover
    leader.join(30)
    follower.join(30)
    assert isinstance(out["leader"], tuple) and isinstance(out["follower"], tuple), out
    assert out["follower"][:2] == ("hit", "flight") and out["follower"][2] == out["leader"][2]
    assert fake_upstream.calls() == 1


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
    assert ACCOUNT_HEADERS.items() <= leader.items()  # the leader's own, as without the gateway
    assert not ACCOUNT_HEADERS.keys() & follower.keys(), follower
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
