"""`/livez` and `/readyz` as a Kubernetes probe meets them: no key needed, nothing told but yes or no, readiness
off once the gateway is stopping (while it still serves), and off while Redis is down only when the operator asks
(`READY_REQUIRES_STORE`), the gateway answering from upstream all the while."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.web.probes import readiness_of
from tests.support.clients import ask
from tests.support.redis_server import RedisServer
from tests.support.traffic import wait_until


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop without touching the session's."""
    with RedisServer() as server:
        yield server


def _probe(gateway, path: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", timeout=5)


def test_probes_need_no_key_and_tell_nothing_but_yes_or_no(make_gateway, store_kind: str) -> None:
    gateway = make_gateway(store_kind, GATEWAY_API_KEYS="gw-only-key", READY_REQUIRES_STORE="true")
    for path, body in [("/livez", {"status": "ok"}), ("/readyz", {"status": "ready"})]:
        answer = _probe(gateway, path)
        assert (answer.status_code, answer.json()) == (200, body)
        assert httpx.head(f"{gateway.url}{path}").status_code == 200
        assert httpx.post(f"{gateway.url}{path}").status_code == 405
    # Not an open door to the API: the same caller without a key is still refused there.
    assert httpx.get(f"{gateway.base_url}/models").status_code == 401


def test_a_stopping_gateway_is_unready_but_live_and_still_serves(make_gateway, store_kind: str) -> None:
    gateway = make_gateway(store_kind)
    readiness_of(gateway.app).stop()  # what the shutdown sequence does first on SIGTERM
    answer = _probe(gateway, "/readyz")
    assert (answer.status_code, answer.json()) == (503, {"status": "not ready"})
    assert _probe(gateway, "/livez").status_code == 200
    assert ask(gateway, "Still answering while draining?")[0] == "miss"


@pytest.mark.parametrize("required", [True, False])
def test_readiness_follows_the_store_only_when_asked(make_gateway, own_redis: RedisServer, required: bool) -> None:
    gateway = make_gateway("memory", REDIS_URL=own_redis.url, STORE_RETRY_SECS="0.2", REDIS_TIMEOUT_MS="200",
                           READY_REQUIRES_STORE=str(required).lower())
    assert _probe(gateway, "/readyz").status_code == 200
    own_redis.kill()
    expected = 503 if required else 200
    # The store's state is asked at most once a second, so the change shows within about that.
    assert wait_until(lambda: _probe(gateway, "/readyz").status_code == expected, timeout=5)
    time.sleep(1.2)
    assert _probe(gateway, "/readyz").status_code == expected  # and stays so while Redis is down
    body = _probe(gateway, "/readyz").json()
    assert body == {"status": "not ready" if required else "ready"}  # the reason is for /healthz and the logs
    assert ask(gateway, "Answered while the store is bypassed?")[0] in {"miss", "bypass"}
    own_redis.restart()
    # Unready replicas get no traffic, so readiness must come back without a request through the cache.
    assert wait_until(lambda: _probe(gateway, "/readyz").status_code == 200, timeout=10)
