"""One way to open a Redis connection for every Redis user (stores, single-flight, metrics): a single node from a
`redis://`, `rediss://` or `unix://` URL, or a Redis Cluster from `redis+cluster://[user:password@]host:port[,...]`
(`rediss+cluster://` for TLS), whose hosts are start-up nodes the client learns the rest of the cluster from.

A cluster client raises errors of its own that are not `RedisError`s (a slot not covered, a cross-slot transaction,
no node reachable): `FAILURES` names them all, so every user turns any of them into its bypass.

Through a failover a cluster client tries each command once. redis-py would try it again on the node that just
failed (its slot map only changes once a replica is promoted), so every retry of a call to a hung master costs
another timeout; a request bypasses after one instead. The failure still asks for a refresh of the slot map, which
the next command runs, so the client learns of the promotion without a restart. A `CLUSTERDOWN` (every slot refused
between a master's failure and its replica's promotion) costs redis-py's fixed 0.25 s pause and a refresh."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from gateway.setting_values import cluster_nodes, is_cluster_url

FAILURES: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

Client = redis.Redis | RedisCluster


def _credentials(url: str) -> dict[str, Any]:
    netloc = url.partition("://")[2]
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return {}
    user, colon, password = userinfo.partition(":")
    if not colon:  # `redis://secret@host`: a password alone, as redis-py reads it
        return {"password": unquote(user)}
    return {"username": unquote(user) or None, "password": unquote(password)}


def connect(url: str, **options: Any) -> Client:
    """A client for `url`; `options` are redis-py connection options (timeouts, retry...)."""
    if not is_cluster_url(url):
        return redis.Redis.from_url(url, **options)
    nodes = [ClusterNode(host, port) for host, port in cluster_nodes(url)]
    options["retry"] = Retry(NoBackoff(), 0)  # one attempt: see above
    return RedisCluster(startup_nodes=nodes, ssl=url.startswith("rediss+"), **_credentials(url), **options)


def host_of(client: Client, url: str) -> str:
    """Where the data lives, for health: a node's host, or the cluster's start-up hosts."""
    if isinstance(client, RedisCluster):
        return ",".join(sorted({host for host, _ in cluster_nodes(url)}))
    return str(client.connection_pool.connection_kwargs.get("host", "unix"))
