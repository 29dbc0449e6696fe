from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# `tests.support` must import under plain `pytest` too, which (unlike `python -m pytest`) does not put the
# repository root on sys.path.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support.ca_directory import trust_ca_directory  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

trust_ca_directory()

# ======================================================================================================
# Real servers: Redis 8 + Query Engine (session) and a fake OpenAI upstream (per test)
# ======================================================================================================


class ExternalRedis:
    """Stands in for RedisServer when TEST_REDIS_URL points at a Redis we don't control."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = urlsplit(url).port or 6379
        self.is_running = True

    def stop(self) -> None:
        pytest.skip("TEST_REDIS_URL is set: this test needs to stop Redis")

    def restart(self) -> ExternalRedis:
        pytest.skip("TEST_REDIS_URL is set: this test needs to restart Redis")

    kill = stop


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | ExternalRedis]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield ExternalRedis(external)
        return
    with RedisServer() as server:
        yield server


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


# ======================================================================================================
# (fixtures added by the lead go below this line)
# ======================================================================================================

from tests.support.gateway_server import ServedGateway, settings_for  # noqa: E402
from tests.support.redis_cluster import RedisCluster  # noqa: E402

UPSTREAM_KEY = "sk-gateway-configured-key"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """3 masters and 3 replicas, started once per session when a test asks for them."""
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("TEST_REDIS_URL is set: the cluster tests start a cluster of their own")
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_gateway(request: pytest.FixtureRequest, fake_upstream: FakeUpstream):
    """`make_gateway(store="memory"|"redis", **env)`: a served gateway in front of the fake upstream."""
    started: list[ServedGateway] = []

    def make(store: str = "memory", **env: str) -> ServedGateway:
        values = {"UPSTREAM_BASE_URL": fake_upstream.base_url, "ANTHROPIC_BASE_URL": fake_upstream.origin,
                  "OPENAI_API_KEY": UPSTREAM_KEY, "LOG_LEVEL": "warning"}
        if store == "redis":
            name = f"t{uuid.uuid4().hex[:10]}"
            values.update(REDIS_URL=request.getfixturevalue("redis_server").url, INDEX_NAME=f"idx:{name}",
                          KEY_PREFIX=f"{name}:", STORE_RETRY_SECS="0.2")
        values.update(env)
        served = ServedGateway(settings_for(values)).start()
        started.append(served)
        return served

    yield make
    for served in started:
        served.stop()


@pytest.fixture
def gateway(make_gateway, store_kind: str) -> ServedGateway:
    """The default gateway, once per store."""
    return make_gateway(store_kind)
