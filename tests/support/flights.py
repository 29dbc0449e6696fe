"""Single-flight's traffic: identical calls at the same moment, each in its own thread, through the official
OpenAI SDK (what each caller got, and how: x-cache and its layer); and served gateways that are workers of one
deployment, sharing a Redis, an index and a key prefix."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.support.clients import client

PROMPT = "Which planet has the most moons?"
N = 8


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread; an exception is returned in its place."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # reported by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def ask(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", headers: dict | None = None, **params):
    """One non-streamed call: (x-cache, x-cache-layer, answer text, completion id)."""
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], extra_headers=headers, **params)
    completion = raw.parse()
    return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), completion.choices[0].message.content, \
        completion.id


def stream(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", **params):
    """One streamed call: (x-cache, x-cache-layer, the chunks as dicts, first-chunk and last-chunk times)."""
    with client(gateway, key).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True, **params) as raw:
        chunks, times = [], []
        for chunk in raw.parse():
            chunks.append(chunk.model_dump())
            times.append(time.monotonic())
        return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), chunks, times[0], times[-1]


def states(results: list[tuple]) -> list[tuple[str, str | None]]:
    return sorted((result[0], result[1]) for result in results)


def shared_gateways(make_gateway, count: int, **env: str) -> list:
    """`count` gateways on one Redis with the same index and key prefix: workers of one deployment. Their Redis
    timeout is generous unless a test sets it: on a loaded CI machine a burst's first connections to a cluster took
    longer than the default 250 ms, and a store that times out is bypassed, so the burst would not share a flight."""
    name = f"t{uuid.uuid4().hex[:10]}"
    env = {"REDIS_TIMEOUT_MS": "2000", **env}
    return [make_gateway("redis", INDEX_NAME=f"idx:{name}", KEY_PREFIX=f"{name}:", **env) for _ in range(count)]
