"""One way to open a Redis connection for every Redis user (stores, single-flight, metrics): a single node from a
`redis://`, `rediss://` or `unix://` URL, or a Redis Cluster from `redis+cluster://[user:password@]host:port[,...]`
(`rediss+cluster://` for TLS), whose hosts are start-up nodes the client learns the rest of the cluster from.

A cluster client raises errors of its own that are not `RedisError`s (a slot not covered, a cross-slot transaction,
no node reachable): `FAILURES` names them all, so every user turns any of them into its bypass.

Through a failover a cluster client tries each command once. redis-py would try it again on the node that just
failed (its slot map only changes once a replica is promoted), so every retry of a call to a hung master costs
another timeout; a request bypasses after one instead. The failure still asks for a refresh of the slot map, which
the next command runs, so the client learns of the promotion without a restart. A `CLUSTERDOWN` (every slot refused
between a master's failure and its replica's promotion) costs redis-py's fixed 0.25 s pause and a refresh.

Every user opens its clients with the same options (`client`, `pool`), so a change to how Redis failures are met is
made once."""

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


def _options(timeout: float, connect_timeout: float) -> dict[str, Any]:
    # One immediate retry lets a pooled connection that died with a restarted Redis reconnect at once (a cluster
    # client tries once: see `connect`); anything slower than the timeout is an outage the caller bypasses.
    return {"socket_timeout": timeout, "socket_connect_timeout": connect_timeout, "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 0}


def client(url: str, *, timeout: float, connect_timeout: float, **options: Any) -> Client:
    """A client for `url` with the options every Redis user shares; `options` adds others (the protocol...)."""
    return connect(url, **_options(timeout, connect_timeout), **options)


def pool(url: str, size: int, *, timeout: float, connect_timeout: float) -> Client:
    """A client of at most `size` connections to a single node, where a command waits up to `connect_timeout` for
    one to be free rather than failing at once."""
    if is_cluster_url(url):
        # A cluster client's pool raises at its limit rather than waiting, which would fail a burst's commands:
        # it opens what a burst needs, per node.
        return client(url, timeout=timeout, connect_timeout=connect_timeout)
    # Owned by its client (`from_pool`), so closing the client closes its connections too: a plain
    # `Redis(connection_pool=...)` leaves them open, and a blocking read on one outlived the gateway's close.
    return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(
        url, max_connections=size, timeout=connect_timeout, **_options(timeout, connect_timeout)))


def host_of(client: Client, url: str) -> str:
    """Where the data lives, for health: a node's host, or the cluster's start-up hosts."""
    if isinstance(client, RedisCluster):
        return ",".join(sorted({host for host, _ in cluster_nodes(url)}))
    return str(client.connection_pool.connection_kwargs.get("host", "unix"))
