"""The fake upstream's injected behaviours (a failure, a broken stream, a malformed body, a delay), each consumed
once, its latencies, forgetting what it recorded, and its record of each stream: run to its end, or cut short by a
client that hung up, seen the moment it did."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.integration.harness.calls import ask, client
from tests.support.fake_upstream import FakeUpstream, iter_sse_data
from tests.support.traffic import wait_until


def test_fail_next_is_consumed_once(fake_upstream: FakeUpstream) -> None:
    fake_upstream.fail_next(429, headers={"retry-after": "7"})
    with client(fake_upstream) as sdk:
        with pytest.raises(openai.RateLimitError) as err:
            sdk.chat.completions.create(model="gpt-4o", messages=ask("hi"))
        ok = sdk.chat.completions.create(model="gpt-4o", messages=ask("hi"))
    assert err.value.response.headers["retry-after"] == "7"
    assert err.value.code == "rate_limit_exceeded"
    assert ok.choices[0].message.content
    assert fake_upstream.calls() == 2 and fake_upstream.pending() == 0


def test_fail_next_custom_body_and_other_path(fake_upstream: FakeUpstream) -> None:
    fake_upstream.fail_next(503, body={"oops": True}, path="/v1/embeddings")
    fake_upstream.fail_next(500)
    first = httpx.post(f"{fake_upstream.base_url}/embeddings", json={"model": "e", "input": "x"}, timeout=5)
    second = httpx.post(f"{fake_upstream.base_url}/chat/completions", json={}, timeout=5)
    assert (first.status_code, first.json()) == (503, {"oops": True})
    assert second.status_code == 500 and second.json()["error"]["type"] == "server_error"


def test_break_stream_makes_the_sdk_raise(fake_upstream: FakeUpstream) -> None:
    fake_upstream.break_stream_next(after_events=3)
    received: list[Any] = []
    with client(fake_upstream) as sdk, pytest.raises(openai.APIConnectionError):
        for chunk in sdk.chat.completions.create(model="gpt-4o", messages=ask("a b c d"), stream=True):
            received.append(chunk)
    assert len(received) == 3
    # The upstream is fine again afterwards.
    with client(fake_upstream) as sdk:
        assert len(list(sdk.chat.completions.create(model="gpt-4o", messages=ask("a"), stream=True))) > 3


def test_break_non_stream_truncates_body(fake_upstream: FakeUpstream) -> None:
    fake_upstream.break_stream_next()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{fake_upstream.base_url}/chat/completions", json={"model": "m", "messages": ask("x")}, timeout=5)


def test_malformed_json_and_sse(fake_upstream: FakeUpstream) -> None:
    fake_upstream.malformed_next("json")
    fake_upstream.malformed_next("sse")
    url = f"{fake_upstream.base_url}/chat/completions"
    bad = httpx.post(url, json={"model": "m", "messages": ask("x")}, timeout=5)
    assert bad.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        bad.json()
    stream = httpx.post(url, json={"model": "m", "messages": ask("x"), "stream": True}, timeout=5)
    payloads = list(iter_sse_data(stream.content))
    assert stream.status_code == 200 and payloads[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(payloads[1])
    with pytest.raises(ValueError):
        fake_upstream.malformed_next("xml")


def test_delay_next_and_latency(fake_upstream: FakeUpstream) -> None:
    url = f"{fake_upstream.base_url}/chat/completions"
    body = {"model": "m", "messages": ask("x")}
    fake_upstream.delay_next(0.4)
    started = time.monotonic()
    httpx.post(url, json=body, timeout=5)
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    httpx.post(url, json=body, timeout=5)
    assert time.monotonic() - started < 0.3  # consumed once

    fake_upstream.delay_next(2.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=body, timeout=0.3)

    fake_upstream.latency = 0.3
    started = time.monotonic()
    httpx.get(f"{fake_upstream.base_url}/models", timeout=5)
    assert time.monotonic() - started >= 0.3


def test_chunk_delay_spaces_out_events(fake_upstream: FakeUpstream) -> None:
    fake_upstream.chunk_delay = 0.05
    arrivals: list[float] = []
    body = {"model": "m", "messages": ask("w1 w2"), "stream": True}
    with httpx.stream("POST", f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 7
    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(arrivals) - 1) * 0.9


def test_reset_clears_records_and_behaviours(fake_upstream: FakeUpstream) -> None:
    fake_upstream.fail_next(500)
    httpx.get(f"{fake_upstream.base_url}/models", timeout=5)
    fake_upstream.reset()
    assert fake_upstream.requests == [] and fake_upstream.pending() == 0
    with client(fake_upstream) as sdk:
        sdk.chat.completions.create(model="m", messages=ask("x"))
    assert fake_upstream.calls() == 1


def test_streams_record_a_client_that_hung_up_the_moment_it_did(fake_upstream: FakeUpstream) -> None:
    fake_upstream.chunk_delay, fake_upstream.extra_words = 0.5, 20
    body = {"model": "m", "messages": ask("tracked"), "stream": True}
    with httpx.stream("POST", f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5) as response:
        lines = response.iter_lines()
        next(lines)  # the first event (a dropped iterator would close the response at once, and race the check)
        assert fake_upstream.open_connections == 1
        lines.close()  # then hang up
    hung_up = time.monotonic()
    assert wait_until(lambda: fake_upstream.streams[0].ended is not None and fake_upstream.open_connections == 0, 2)
    record = fake_upstream.streams[0]
    assert record.prompt == "tracked" and record.gone_early and not record.finished
    assert record.ended is not None and record.ended - hung_up < 0.3  # seen while waiting, not at a next write
    fake_upstream.chunk_delay = 0
    whole = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5).text
    assert whole.count("data:") == 1 + 4 + 20 + 2  # role, "answer N to: tracked", w0..w19, finish, [DONE]
    # marked after the last write, which the client may have read first
    assert wait_until(lambda: fake_upstream.streams[1].finished, 2) and not fake_upstream.streams[1].gone_early
