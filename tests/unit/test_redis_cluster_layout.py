"""Redis Cluster without a cluster: the `redis+cluster://` URL form, the key layout (one slot per scope, found from
an entry's id alone, the single-node names unchanged), which store keeps each vector type, the Query Engine refused,
and a cluster client's own errors turned into the store's."""

from __future__ import annotations

import pytest
from redis.crc import key_slot
from redis.exceptions import (
    ClusterDownError,
    CrossSlotTransactionError,
    RedisClusterException,
    RedisClusterUnreachableError,
    SlotNotCoveredError,
)

from gateway.assembly import make_store
from gateway.errors import SettingsError, StartupError, StoreError
from gateway.settings import load_settings
from gateway.store.base import Tags
from gateway.store.redis.connection import _credentials
from gateway.store.redis.entries import store_errors
from gateway.store.redis.query_engine import RedisStore
from gateway.store.redis.vector_set_keys import VectorSetKeys
from gateway.store.redis.vector_sets import VectorSetStore
from gateway.wire.canonical import ENTRY_ID, SHARD_CHARS, answered_by, chat_key, shard_of
from tests.support.processes import NO_DOTENV

CLUSTER = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"


@pytest.mark.parametrize("url", [
    CLUSTER, "redis+cluster://node:6379", "rediss+cluster://user:p%40ss@a:1,b:2", "redis+cluster://[::1]:7000",
])
def test_a_cluster_url_is_accepted(url: str) -> None:
    assert load_settings(environ={"REDIS_URL": url}, dotenv=NO_DOTENV).redis_url == url


@pytest.mark.parametrize("url", [
    "redis+cluster://", "redis+cluster://host", "redis+cluster://host:port", "redis+cluster://a:1,",
    "redis+cluster://:7000", "redis+cluster://a:1/0", "redis+cluster://a:1?ssl=true", "redis+cluster://a:70000",
    "redis+cluster://a:1#x", "cluster://a:1",
])
def test_a_malformed_cluster_url_is_refused_at_start(url: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        load_settings(environ={"REDIS_URL": url}, dotenv=NO_DOTENV)


@pytest.mark.parametrize(("url", "credentials"), [
    (CLUSTER, {}), ("redis+cluster://secret@a:1", {"password": "secret"}),
    ("redis+cluster://user:p%40ss@a:1", {"username": "user", "password": "p@ss"}),
    ("redis+cluster://:pw@a:1", {"username": None, "password": "pw"}),
])
def test_cluster_credentials_are_read_as_redis_py_reads_a_url(url: str, credentials: dict) -> None:
    assert _credentials(url) == credentials


@pytest.mark.parametrize(("url", "vector_type", "store"), [
    ("redis://a:1", "float32", RedisStore), ("redis://a:1", "float16", RedisStore),
    ("redis://a:1", "int8", VectorSetStore), (CLUSTER, "float32", VectorSetStore), (CLUSTER, "int8", VectorSetStore),
])
def test_which_store_keeps_each_vector_type(url: str, vector_type: str, store: type) -> None:
    made = make_store(load_settings(environ={"REDIS_URL": url, "VECTOR_TYPE": vector_type}, dotenv=NO_DOTENV))
    assert type(made) is store and made._vector_type == vector_type


def test_the_query_engine_store_is_refused_on_a_cluster_naming_the_alternatives() -> None:
    settings = load_settings(environ={"REDIS_URL": CLUSTER, "VECTOR_TYPE": "float16"}, dotenv=NO_DOTENV)
    with pytest.raises(StartupError, match="set VECTOR_TYPE=int8 or float32"):
        make_store(settings)
    with pytest.raises(StartupError, match="cannot span a Redis Cluster"):
        RedisStore(CLUSTER, index="idx", prefix="p:", timeout_ms=100)


@pytest.mark.parametrize("error", [
    RedisClusterException("x"), CrossSlotTransactionError("x"), SlotNotCoveredError("x"),
    RedisClusterUnreachableError("x"), ClusterDownError("x"),
])
def test_a_cluster_clients_own_errors_are_store_errors(error: Exception) -> None:
    """The outage guard bypasses a StoreError; redis-py's cluster errors are not all RedisErrors."""
    with pytest.raises(StoreError, match="Redis read failed"), store_errors("read"):
        raise error


def test_an_entry_id_starts_with_its_scopes_shard() -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    key = chat_key(body, model="gpt-4o-mini", route="default", tenant="t")
    routed = answered_by(key, "provider-a")
    for each in (key, routed):
        assert ENTRY_ID.fullmatch(each.exact) and each.exact[:SHARD_CHARS] == shard_of(each.context)
    assert routed.exact != key.exact


TAGS = Tags("gpt-4o-mini", "default", "tenant", "c" * 32)


def test_on_a_cluster_an_entry_its_scope_and_its_registry_share_one_slot() -> None:
    keys = VectorSetKeys("cache:", cluster=True)
    shard = keys.shard(TAGS)
    entry_id = shard + "0" * (32 - SHARD_CHARS)
    names = [keys.entry(entry_id), *keys.scope(shard, "fp:scope"), keys.registry(shard)]
    assert len({key_slot(name.encode()) for name in names}) == 1
    assert keys.shard_of_registry(keys.registry(shard)) == shard
    other = keys.scope(shard_of("d" * 32), "fp:scope")[0]
    assert key_slot(other.encode()) != key_slot(names[1].encode())  # another scope: most likely another slot


def test_on_one_node_the_names_are_unchanged() -> None:
    keys = VectorSetKeys("cache:", cluster=False)
    assert keys.entry("abcd1234") == "cache:abcd1234"
    assert keys.scope("", "fp:scope") == ("cache:vset:fp:scope", "cache:exact:fp:scope")
    assert keys.registry("") == "cache:scopes"
