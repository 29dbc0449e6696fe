"""Upstream faults as an app meets them through the gateway: every way an upstream can fail (errors, refusal,
silence, a stall mid-stream, a cut, garbage), and a remote embedder failing or hanging. The gateway must never
cache a failure, never leave a client hanging, and say what went wrong in OpenAI's error shape (Redis faults:
test_faults_redis.py; clients hanging up: test_faults_hang_ups.py)."""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
import pytest

from tests.support.clients import PROMPT, ask, client, stream
from tests.support.fake_upstream import EMBEDDINGS_PATH, iter_sse_data

ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_upstream_errors_keep_retry_after_and_are_never_cached(gateway, fake_upstream, status: int,
                                                                streamed: bool) -> None:
    fake_upstream.fail_next(status, headers={"retry-after": "7", "x-request-id": "req_fault"})
    with pytest.raises(openai.APIStatusError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == status
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["x-upstream-request-id"] == "req_fault"
    assert set(caught.value.response.json()["error"]) == ERROR_KEYS
    gateway.drain()
    # The next identical request is not answered with the error (nor with a 200 built from it).
    state, _, completion = ask(gateway)
    assert state == "miss" and completion.choices[0].message.content.endswith(PROMPT)
    assert state == "miss" and fake_upstream.calls() == 2
    assert stream(gateway)[0] == "hit"


def test_an_error_body_with_status_200_is_not_cached(gateway, fake_upstream) -> None:
    # Some OpenAI-compatible servers answer errors with 200; storing one would replay it for a day.
    fake_upstream.fail_next(200, body={"error": {"message": "overloaded", "type": "server_error",
                                                 "param": None, "code": None}})
    response = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200 and "error" in response.json()
    gateway.drain()
    assert ask(gateway)[0] == "miss"
    assert ask(gateway)[0] == "hit"


def test_embedding_errors_are_never_cached(gateway, fake_upstream) -> None:
    sdk = client(gateway)
    fake_upstream.fail_next(429, headers={"retry-after": "3"}, path=EMBEDDINGS_PATH)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.embeddings.create(model="text-embedding-3-small", input="hello")
    assert caught.value.response.headers["retry-after"] == "3"
    gateway.drain()
    raw = sdk.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    assert raw.headers["x-cache"] == "miss" and len(raw.parse().data[0].embedding) > 0
    gateway.drain()
    assert sdk.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                   input="hello").headers["x-cache"] == "hit"
    assert fake_upstream.calls(EMBEDDINGS_PATH) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_connection_refused_is_a_502(make_gateway, streamed: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gateway = make_gateway("memory", UPSTREAM_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_unreachable"
    assert set(caught.value.response.json()["error"]) == ERROR_KEYS
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_silent_upstream_is_a_504_in_time(make_gateway, fake_upstream, streamed: bool) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.delay_next(3.0)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        (stream if streamed else ask)(gateway)
    assert caught.value.status_code == 504 and caught.value.body["code"] == "upstream_timeout"
    assert time.monotonic() - started < 1.5
    assert ask(gateway)[0] == "miss"


def test_a_stream_that_stalls_ends_with_an_error_event_not_a_hang(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.chunk_delay = 2.0  # the first event comes at once, the next after the timeout
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        stream(gateway)
    assert time.monotonic() - started < 1.5
    assert caught.value.body["code"] == "upstream_timeout"
    # The same by hand: the relayed events end with one OpenAI-shaped error event.
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=5, json={
            "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}) as raw:
        events = list(iter_sse_data(raw.read()))
    error = json.loads(events[-1])["error"]
    assert set(error) == ERROR_KEYS and error["code"] == "upstream_timeout" and error["type"] == "server_error"
    fake_upstream.chunk_delay = 0
    gateway.drain()
    assert ask(gateway)[0] == "miss"  # nothing of the stalled streams was stored


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_an_upstream_that_breaks_off_fails_visibly_and_stores_nothing(gateway, fake_upstream,
                                                                      streamed: bool) -> None:
    fake_upstream.break_stream_next(after_events=3)
    with pytest.raises(openai.APIError) as caught:
        (stream if streamed else ask)(gateway)
    if not streamed:
        assert isinstance(caught.value, openai.InternalServerError) and caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_protocol_error"
    gateway.drain()
    assert ask(gateway)[0] == "miss"
    assert stream(gateway)[0] == "hit"


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_malformed_upstream_answers_are_a_clear_error_and_not_cached(gateway, fake_upstream, streamed: bool) -> None:
    fake_upstream.malformed_next("sse" if streamed else "json")
    body = {"model": "gpt-4o-mini", "stream": streamed, "messages": [{"role": "user", "content": PROMPT}]}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
    if streamed:
        assert response.status_code == 200  # the stream had started: the error is its last event
        payload = json.loads(list(iter_sse_data(response.content))[-1])
    else:
        assert response.status_code == 502
        payload = response.json()
    assert set(payload["error"]) == ERROR_KEYS and payload["error"]["code"] == "upstream_protocol_error"
    gateway.drain()
    assert ask(gateway)[0] == "miss"


@pytest.mark.parametrize("fault", ["429", "500", "503", "malformed"])
def test_a_failing_remote_embedder_is_a_bypass_never_an_error(make_gateway, fake_upstream, fault: str) -> None:
    gateway = make_gateway("memory", EMBED_PROVIDER="openai", EMBED_DIM="64")
    if fault == "malformed":
        fake_upstream.malformed_next("json", path=EMBEDDINGS_PATH)
    else:
        fake_upstream.fail_next(int(fault), headers={"retry-after": "1"}, path=EMBEDDINGS_PATH)
    state, _, completion = ask(gateway, "A question never asked before?")
    assert state == "bypass" and completion.choices[0].message.content


def test_a_slow_remote_embedder_does_not_hold_requests(make_gateway, fake_upstream) -> None:
    # The cache is an optimisation: an embeddings endpoint that hangs must cost a request no more than its own
    # EMBED_TIMEOUT_SECS, not the upstream's generation timeout (600 s by default).
    gateway = make_gateway("memory", EMBED_PROVIDER="openai", EMBED_DIM="64", EMBED_TIMEOUT_SECS="0.5")
    fake_upstream.delay_next(5.0, path=EMBEDDINGS_PATH)
    started = time.monotonic()
    state, _, completion = ask(gateway, "Another question never asked before?")
    elapsed = time.monotonic() - started
    assert completion.choices[0].message.content
    assert elapsed < 2.0, f"a request waited {elapsed:.1f} s for a slow embedder (x-cache: {state})"
    assert state == "bypass"


