"""Single-flight when its leader fails: replaced by a follower (in one worker or across two), its client leaving
without cutting its followers, a worker hung past its lease, Redis refusing the flight commands or stalling
mid-stream. Every caller is still served (the sharing itself: test_single_flight.py)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import openai
import pytest
import redis

from tests.support.flights import PROMPT, N, ask, shared_gateways, states, stream, together
from tests.support.traffic import wait_until


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


def _stream_until(port: int, prompt: str, leave: threading.Event | None = None,
                  heads: list[bytes] | None = None) -> None:
    """A streaming client that reads the head (kept in `heads`) and the first chunk, then hangs up: at once, or
    once `leave` is set."""
    body = (b'{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "'
            + prompt.encode() + b'"}]}')
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               b"authorization: Bearer sk-client-one\r\ncontent-length: %d\r\n\r\n" % len(body)) + body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while b"data:" not in received:
            received += sock.recv(4096)
        if heads is not None:
            heads.append(received.split(b"\r\n\r\n")[0].lower())
        if leave is not None:
            leave.wait(20)


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_the_leaders_client_leaving_does_not_cut_its_followers(make_gateway, fake_upstream, store: str) -> None:
    gateway = make_gateway(store)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.1  # the follower joins while the leader waits
    results: list[Any] = []
    follower = threading.Thread(target=lambda: results.append(stream(gateway)))
    leader = threading.Thread(target=_stream_until, args=(gateway.port, PROMPT))
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


@pytest.mark.parametrize("first", ["follower", "leader"])
def test_the_upstream_request_closes_once_the_clients_in_both_workers_left(make_gateway, fake_upstream,
                                                                            first: str) -> None:
    """Before, a follower in another worker counted for the flight's whole lifetime: a leader whose own client
    had left read the upstream answer to its end (and paid for it) although the follower had left too."""
    leader_gateway, follower_gateway = shared_gateways(make_gateway, 2)
    fake_upstream.chunk_delay, fake_upstream.extra_words = 0.1, 200  # a 20 s stream
    leaves = {"leader": threading.Event(), "follower": threading.Event()}
    heads: list[bytes] = []
    clients = {"leader": threading.Thread(target=_stream_until, args=(leader_gateway.port, PROMPT,
                                                                      leaves["leader"], heads)),
               "follower": threading.Thread(target=_stream_until, args=(follower_gateway.port, PROMPT,
                                                                        leaves["follower"], heads))}
    clients["leader"].start()
    assert wait_until(lambda: len(heads) == 1, 10)
    clients["follower"].start()
    assert wait_until(lambda: len(heads) == 2, 10)
    assert b"x-cache-layer: flight" in heads[1] and b"x-cache: miss" in heads[0]
    second = "leader" if first == "follower" else "follower"
    leaves[first].set()
    time.sleep(1.5)  # the first to leave is gone: the other still reads, so the upstream request goes on
    assert fake_upstream.streams[0].ended is None
    leaves[second].set()
    for client in clients.values():
        client.join(10)
    assert wait_until(lambda: fake_upstream.streams[0].ended is not None, 5)
    assert fake_upstream.streams[0].gone_early and not fake_upstream.streams[0].finished
