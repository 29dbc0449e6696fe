"""The whole fleet in one stream: `latency-slayer serve --workers 2` with one Redis, requests spread over
both workers, every event in `METRICS_STREAM`, and the dashboard's figures the same whichever worker answers."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from gateway.metrics.events import decode
from tests.support.processes import clean_env, cli, wait_healthy
from tests.support.redis_server import free_port

REQUESTS = 40


def _ask(url: str, number: int) -> str:
    # A new connection each time, so the kernel hands them to either worker's accept loop.
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question number {number % 10}?"}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"connection": "close"}, timeout=30)
    assert response.status_code == 200
    return response.headers["x-cache"]


def test_two_workers_share_one_stream_and_one_dashboard(tmp_path: Path, fake_upstream, redis_server) -> None:
    port = free_port()
    stream = f"events:fleet-{uuid.uuid4().hex[:8]}"
    env = clean_env(UPSTREAM_BASE_URL=fake_upstream.base_url, LOG_LEVEL="warning", REDIS_URL=redis_server.url,
                    INDEX_NAME=f"idx:fleet-{port}", KEY_PREFIX=f"fleet-{port}:", METRICS_STREAM=stream)
    fake_upstream.latency = 0.05  # requests overlap, so both workers get some
    process = cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        with ThreadPoolExecutor(8) as pool:
            states = list(pool.map(lambda number: _ask(url, number), range(REQUESTS)))
        deadline = time.monotonic() + 5
        with redis.Redis.from_url(redis_server.url) as reader:
            while len(entries := reader.xrange(stream)) < REQUESTS:  # none yet is not all yet: the writer batches
                assert time.monotonic() < deadline, f"{len(entries)} of {REQUESTS} events in the stream"
                time.sleep(0.1)
        events = [decode(fields) for _, fields in entries]
        assert len(events) == REQUESTS and None not in events
        assert len({event.source for event in events}) == 2  # both workers wrote to the one stream
        assert sorted(event.outcome for event in events) == sorted(states)
        views = [httpx.get(f"{url}/dashboard/data?window=60", headers={"connection": "close"}).json()
                 for _ in range(6)]  # several connections: answered by both workers
        for view in views:
            assert view["summary"]["requests"] == REQUESTS and view["sources"] == 2
            assert view["summary"]["outcomes"]["hit"] == states.count("hit")
        metrics = httpx.get(f"{url}/metrics").text
        assert f'latency_slayer_requests{{window="1m",outcome="hit"}} {states.count("hit")}' in metrics
    finally:
        process.terminate()
        process.communicate(timeout=30)
