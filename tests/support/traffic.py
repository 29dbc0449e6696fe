"""Client traffic through the official OpenAI SDK, and probes of this process's resources, for fault, soak and
disconnect tests. The served gateway runs in this process, so its sockets and memory are ours to measure."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import openai

__all__ = ["REPEATED", "Outcome", "Traffic", "loop_tasks", "open_sockets", "rss_kib", "socket_states", "wait_until"]

# Distinct topics, so that repeated prompts hit only themselves (a semantic hit across two of them would be
# a legitimate answer that the correctness check below could not tell from a wrong one).
REPEATED = (
    "How do I reset my password?",
    "What is the capital of France?",
    "Explain how photosynthesis works.",
    "Write a haiku about autumn rain.",
    "How many bytes are in a kilobyte?",
    "Which planet has the most moons?",
)


def open_sockets() -> int:
    """Sockets this process holds open (the gateway, its Redis and upstream pools, the clients)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed while we looked
    return count


_TCP_STATES = {"01": "established", "06": "time_wait", "08": "close_wait", "0A": "listen"}


def socket_states() -> dict[str, int]:
    """This process's TCP sockets by state (established, close_wait, listen, other)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    states: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    state = _TCP_STATES.get(fields[3], "other")
                    states[state] = states.get(state, 0) + 1
    return states


def rss_kib() -> int:
    """Resident memory of this process after a full collection, in KiB."""
    gc.collect()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _count_tasks() -> int:
    return len(asyncio.all_tasks())


def loop_tasks(served) -> int:  # type: ignore[no-untyped-def]
    """Tasks alive on the gateway's event loop (the probe's own task included)."""
    return int(served.run(_count_tasks()))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass(frozen=True)
class Outcome:
    worker: int
    started: float  # time.monotonic()
    ended: float
    prompt: str
    streamed: bool
    state: str | None  # x-cache
    layer: str | None  # x-cache-layer
    text: str
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def answers_its_prompt(self) -> bool:
        """The fake upstream answers "answer N to: <prompt>": anything but a semantic hit must end so. A
        desynchronised Redis connection (a reply read for the wrong command) would break this."""
        return self.layer == "semantic" or self.text.endswith(f"to: {self.prompt}")


class Traffic:
    """`workers` threads, each with its own SDK client, sending a mix until `stop()` or `max_calls` each:
    repeated prompts (hits), fresh prompts (misses; asked with threshold 0 so they can only hit exactly),
    streamed and not. Every call is recorded; nothing is retried (max_retries=0)."""

    def __init__(self, base_url: str, *, workers: int = 8, max_calls: int = 5000, fresh_every: int = 3,
                 key: str = "sk-traffic", timeout: float = 10.0, keep_all: bool = True) -> None:
        self.base_url = base_url
        self.workers = workers
        self.max_calls = max_calls
        self.fresh_every = fresh_every
        self.key = key
        self.timeout = timeout
        # keep_all=False (soaks): only failed or wrong calls are kept, the rest are counted, so that the
        # harness itself does not grow while the gateway's memory is being measured.
        self.keep_all = keep_all
        self.outcomes: list[Outcome] = []
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(n,), name=f"traffic-{n}", daemon=True)
                         for n in range(workers)]

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"traffic threads did not stop: {alive}")

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def _work(self, worker: int) -> None:
        sdk = openai.OpenAI(base_url=self.base_url, api_key=self.key, max_retries=0, timeout=self.timeout)
        run = uuid.uuid4().hex[:8]
        try:
            for call in range(self.max_calls):
                if self._stop.is_set():
                    return
                fresh = call % self.fresh_every == 0
                prompt = f"Fresh question {run}-{worker}-{call}?" if fresh else REPEATED[(call + worker) % 6]
                headers = {"x-cache-threshold": "0"} if fresh else {}
                outcome = self._call(sdk, worker, prompt, streamed=call % 2 == 1, headers=headers)
                label = "error" if outcome.error else f"{outcome.state}{'-stream' if outcome.streamed else ''}"
                with self._lock:
                    self.counts[label] = self.counts.get(label, 0) + 1
                    if self.keep_all or outcome.error or not outcome.answers_its_prompt:
                        self.outcomes.append(outcome)
        finally:
            sdk.close()

    @staticmethod
    def _call(sdk: openai.OpenAI, worker: int, prompt: str, *, streamed: bool, headers: dict[str, str]) -> Outcome:
        started = time.monotonic()
        messages = [{"role": "user", "content": prompt}]
        try:
            if streamed:
                with sdk.chat.completions.with_streaming_response.create(
                        model="gpt-4o-mini", messages=messages, stream=True, extra_headers=headers) as raw:
                    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
                    state, layer = raw.headers.get("x-cache"), raw.headers.get("x-cache-layer")
            else:
                raw = sdk.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=messages, extra_headers=headers)
                text = raw.parse().choices[0].message.content or ""
                state, layer = raw.headers.get("x-cache"), raw.headers.get("x-cache-layer")
        except Exception as error:  # recorded, and the test fails on it with the whole list
            return Outcome(worker, started, time.monotonic(), prompt, streamed, None, None, "",
                           f"{error.__class__.__name__}: {error}")
        return Outcome(worker, started, time.monotonic(), prompt, streamed, state, layer, text)
