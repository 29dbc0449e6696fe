"""VECTOR_TYPE through a served gateway: FLOAT16 in the Query Engine index, int8 in native vector sets on a
plain Redis 8 without any module; both serve exact and semantic hits, and a broken Redis is a bypass."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.clients import PARAPHRASE, UNRELATED, ask
from tests.support.redis_server import RedisServer


class PlainRedisServer(RedisServer):
    """Redis 8 as it ships, vector sets included: the Query Engine module is not loaded."""

    def command_line(self, port: int, workdir) -> list[str]:
        line = super().command_line(port, workdir)
        at = line.index("--loadmodule")
        return line[:at] + line[at + 2:]


@pytest.fixture
def plain_redis() -> Iterator[RedisServer]:
    if os.environ.get("TEST_REDIS_URL"):
        pytest.skip("TEST_REDIS_URL is set: this test starts and stops its own Redis")
    with PlainRedisServer() as server:
        with redis.Redis.from_url(server.url) as client, pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("FT._LIST")  # no Query Engine here
        yield server


def vector_memory_of(url: str, settings) -> tuple[str, bytes]:
    """What Redis itself says holds the vectors: the index's data type, or a vector set's quantisation."""
    client = redis.Redis.from_url(url, protocol=3)
    try:
        if settings.vector_type == "int8":
            vectors = client.keys(f"{settings.key_prefix}vset:*")
            assert len(vectors) == 2  # one set per scope: the two tenants
            return "int8", client.execute_command("VINFO", vectors[0])[b"quant-type"]
        info = client.execute_command("FT.INFO", settings.index_name)
        return "float16", info[b"attributes"][-1][b"data_type"]
    finally:
        client.close()


@pytest.mark.parametrize("vector_type", ["float16", "int8"])
def test_a_vector_type_serves_exact_and_semantic_hits(make_gateway, fake_upstream, request, vector_type: str) -> None:
    server = request.getfixturevalue("plain_redis" if vector_type == "int8" else "redis_server")
    gateway = make_gateway("redis", REDIS_URL=server.url, VECTOR_TYPE=vector_type)
    state, _, first = ask(gateway)
    assert state == "miss"
    state, headers, _ = ask(gateway)
    assert state == "hit" and headers["x-cache-layer"] == "exact"
    state, headers, second = ask(gateway, PARAPHRASE)
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    assert 0 < float(headers["x-cache-distance"]) <= gateway.settings.cache_distance_threshold
    assert second.choices[0].message.content == first.choices[0].message.content
    assert ask(gateway, UNRELATED)[0] == "miss"
    assert ask(gateway, PARAPHRASE, key="sk-client-two")[0] == "miss"  # another tenant, another scope
    assert fake_upstream.calls() == 3
    expected = {"float16": b"FLOAT16", "int8": b"int8"}[vector_type]
    assert vector_memory_of(server.url, gateway.settings) == (vector_type, expected)


def test_int8_on_a_broken_redis_is_a_bypass_never_an_error(make_gateway, fake_upstream, plain_redis) -> None:
    gateway = make_gateway("redis", REDIS_URL=plain_redis.url, VECTOR_TYPE="int8")
    assert ask(gateway)[0] == "miss"
    plain_redis.stop()
    state, _, completion = ask(gateway, PARAPHRASE)
    assert state == "bypass" and completion.choices[0].message.content
    assert fake_upstream.calls() == 2
