"""What the benchmark reads off the machine: CPU time of process trees and Redis memory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import redis

_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants (hypercorn's worker processes)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        pending += _children(current)
    return total


class CpuMeter:
    """CPU seconds a service spent between two readings: its process tree, plus `extra` (CPU it had done
    elsewhere on its behalf, e.g. embeddings), and separately the Redis server's."""

    def __init__(self, pid: int, redis_pid: int, extra: Callable[[], float] = lambda: 0.0) -> None:
        self.pid, self.redis_pid, self.extra = pid, redis_pid, extra

    def read(self) -> tuple[float, float]:
        return cpu_seconds(self.pid) + self.extra(), cpu_seconds(self.redis_pid)


def redis_used_memory(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("memory")["used_memory"])


def key_memory(url: str, key: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.memory_usage(key, samples=0) or 0)


def indexed_documents(url: str) -> int:
    """Documents in all the Query Engine's indexes (ours and LiteLLM's each have one)."""
    with redis.Redis.from_url(url) as client:
        return sum(int(client.ft(name.decode()).info()["num_docs"]) for name in client.execute_command("FT._LIST"))
