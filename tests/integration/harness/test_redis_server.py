"""The Redis 8 launcher: the Query Engine and hash-field expiry on both protocols, a restart on the same port that
starts empty, and a failed start that reports the server's log."""

from __future__ import annotations

import asyncio
import os
import struct
import uuid
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from tests.support.redis_server import RedisServer, RedisServerError


def _vec(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def _search_ids(reply: Any) -> list[bytes]:
    # RESP2 answers [total, id, fields, ...]; RESP3 a map with b"results" (see the report in the PR).
    if isinstance(reply, dict):
        return [r[b"id"] for r in reply[b"results"]]
    return list(reply[1::2])


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_query_engine_and_field_expiry(redis_server: RedisServer, protocol: int) -> None:
    tag = uuid.uuid4().hex[:8]
    index, prefix = f"idx-{tag}", f"doc-{tag}:"

    async def scenario() -> None:
        r = Redis.from_url(redis_server.url, decode_responses=False, protocol=protocol)
        try:
            await r.execute_command(
                "FT.CREATE",
                index,
                "ON",
                "HASH",
                "PREFIX",
                "1",
                prefix,
                "SCHEMA",
                "model",
                "TAG",
                "tenant",
                "TAG",
                "emb",
                "VECTOR",
                "HNSW",
                "6",
                "TYPE",
                "FLOAT32",
                "DIM",
                "3",
                "DISTANCE_METRIC",
                "COSINE",
            )
            docs = {
                "1": ("gpt-4o", "a", _vec(1, 0, 0)),
                "2": ("gpt-4o", "b", _vec(1, 0, 0)),
                "3": ("gpt-4o", "a", _vec(0, 1, 0)),
                "4": ("other", "a", _vec(1, 0.1, 0)),
            }
            for key, (model, tenant, emb) in docs.items():
                await r.hset(f"{prefix}{key}", mapping={"model": model, "tenant": tenant, "emb": emb})
            query = "(@model:{gpt\\-4o} @tenant:{a})=>[KNN 3 @emb $v AS dist]"
            args = (
                "PARAMS",
                "2",
                "v",
                _vec(1, 0, 0),
                "SORTBY",
                "dist",
                "RETURN",
                "1",
                "dist",
                "DIALECT",
                "2",
            )
            reply = await r.execute_command("FT.SEARCH", index, query, *args)
            assert _search_ids(reply) == [f"{prefix}1".encode(), f"{prefix}3".encode()]

            key = f"{prefix}1"
            assert await r.execute_command("HSETEX", key, "EX", "1", "FIELDS", "1", "resp", "v") == 1
            await asyncio.sleep(1.3)
            reply = await r.execute_command("FT.SEARCH", index, query, *args)
            assert _search_ids(reply)[0] == key.encode()  # the document outlives its expired field
            assert await r.execute_command("HGETEX", key, "EX", "10", "FIELDS", "1", "resp") == [None]
            assert await r.hgetex(key, "resp", ex=10) == [None]
        finally:
            await r.execute_command("FT.DROPINDEX", index, "DD")
            await r.aclose()

    asyncio.run(scenario())


@pytest.mark.skipif(bool(os.environ.get("TEST_REDIS_URL")), reason="TEST_REDIS_URL: no local Redis to start")
def test_redis_restart_keeps_port_and_starts_empty() -> None:
    with RedisServer() as server:
        port, pid = server.port, server.pid
        assert server.url == f"redis://127.0.0.1:{port}/0" and server.is_running
        sync = redis.Redis.from_url(server.url, socket_timeout=2)
        sync.set("k", "v")
        assert [m[b"name"] for m in sync.module_list()].count(b"search") == 1

        server.stop()
        assert not server.is_running
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()

        server.restart()
        assert server.is_running and server.port == port and server.pid != pid
        assert sync.get("k") is None  # the pooled connection reconnects; data did not survive
        assert sync.execute_command("FT._LIST") in ([], set())
        sync.close()
    assert not server.is_running


@pytest.mark.skipif(bool(os.environ.get("TEST_REDIS_URL")), reason="TEST_REDIS_URL: no local Redis to start")
def test_redis_start_failure_reports_the_log() -> None:
    server = RedisServer(extra_args=["--loadmodule", "/nonexistent/module.so"], startup_timeout=5)
    with pytest.raises(RedisServerError, match=r"(?s)exited with.*log tail.*nonexistent"):
        server.start()
    assert not server.is_running
