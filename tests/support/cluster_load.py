"""Traffic for a cluster failover: pairs of client threads on two gateways asking cached prompts of many scopes (so
their entries spread over every master) and new ones (each asked on both gateways at once, so one gateway follows
the other's flight through Redis), each call recorded with its outcome, its time and, for a hit, its entry's slot;
and which master serves which slot."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import httpx
import redis
from redis.crc import key_slot

from gateway.wire.canonical import SHARD_CHARS
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

PAIRS = 3  # client threads, two per pair: one on each gateway
SCOPES = [f"You answer for the {team} team." for team in (
    "billing", "search", "mobile", "payments", "design", "storage", "network", "kernel",
    "support", "sales", "legal", "growth", "data", "security", "infra", "docs")]  # spread over every master
REPEATED = [(scope, f"What does the {scope.split()[4]} team own?") for scope in SCOPES]


@dataclass
class Call:
    gateway: int
    prompt: str
    started: float
    ended: float
    state: str | None = None
    layer: str | None = None
    slot: int | None = None  # of the entry a hit came from
    error: str | None = None


class Load:
    """Pairs of client threads: each round, both threads of a pair ask the same prompt, one per gateway."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.calls: list[Call] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def ask(self, gateway: int, scope: str, prompt: str, client: httpx.Client) -> Call:
        started = time.monotonic()
        call = Call(gateway, prompt, started, started)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": scope},
                                                     {"role": "user", "content": prompt}]}
        try:
            response = client.post(f"{self.urls[gateway]}/v1/chat/completions", json=body)
            call.ended, call.state = time.monotonic(), response.headers.get("x-cache")
            call.layer = response.headers.get("x-cache-layer")
            text = response.json()["choices"][0]["message"]["content"] if response.status_code == 200 else ""
            if response.status_code != 200 or not re.fullmatch(rf"answer \d+ to: {re.escape(prompt)}", text):
                call.error = f"{response.status_code}: {response.text[:200]}"  # failed, or another prompt's answer
            entry = response.headers.get("x-cache-key")
            if call.state == "hit" and entry:
                call.slot = key_slot(entry[:SHARD_CHARS].encode())
        except Exception as error:  # counted as a failed request
            call.ended, call.error = time.monotonic(), repr(error)
        with self._lock:
            self.calls.append(call)
        return call

    def start(self) -> Load:
        for pair in range(PAIRS):
            barrier = threading.Barrier(2, timeout=30)
            for gateway in (0, 1):
                thread = threading.Thread(target=self._run, args=(pair, gateway, barrier), daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def _run(self, pair: int, gateway: int, barrier: threading.Barrier) -> None:
        headers = {"authorization": "Bearer sk-client-one"}
        with httpx.Client(headers=headers, timeout=60) as client:
            for round_ in range(1_000_000):
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    return
                if self._stop.is_set():
                    barrier.abort()
                    return
                if round_ % 2:  # a new prompt: a miss, a flight of both gateways
                    scope, prompt = SCOPES[round_ % len(SCOPES)], f"Pair {pair} asks question {round_} now?"
                else:
                    scope, prompt = REPEATED[(pair * 7 + round_ + gateway) % len(REPEATED)]
                self.ask(gateway, scope, prompt, client)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)


def owners(cluster: RedisCluster, failed: int | None = None) -> dict[int, int]:
    """Slot -> the port of the master serving it, as the first master that answers (not the failed one) sees it."""
    for node in cluster.masters:
        if node.port == failed:
            continue
        try:
            with redis.Redis(port=node.port, password=cluster.password, socket_timeout=0.5) as client:
                ranges = client.execute_command("CLUSTER SLOTS")
        except redis.RedisError:
            continue
        return {slot: int(owner[1]) for first, last, owner, *_ in ranges for slot in range(first, last + 1)}
    raise AssertionError("no master answers")


def holding(cluster: RedisCluster, pattern: str) -> list[RedisServer]:
    """The masters holding keys that match `pattern`."""
    held = []
    for node in cluster.masters:
        with redis.Redis(port=node.port, password=cluster.password) as client:
            if client.keys(pattern):
                held.append(node)
    return held
