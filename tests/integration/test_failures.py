"""Failure and bad input, as a client sees them through the SDK: the cache going away never fails a
request, upstream errors pass through and are never cached, and the gateway's own errors are OpenAI-shaped."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from tests.support.clients import PROMPT, ask, client, stream


def test_redis_stopped_mid_test_bypasses_then_recovers(make_gateway, redis_server, fake_upstream, caplog) -> None:
    gateway = make_gateway("redis")
    ask(gateway)
    assert ask(gateway)[0] == "hit"
    redis_server.stop()
    try:
        for _ in range(3):
            state, _, completion = ask(gateway)
            assert state == "bypass" and completion.choices[0].message.content
        state, chunks = stream(gateway)
        assert state == "bypass" and chunks
    finally:
        redis_server.restart()
    deadline = time.monotonic() + 10
    while ask(gateway)[0] != "miss":  # the store is back (an empty Redis): misses store again
        assert time.monotonic() < deadline, "the cache did not come back"
        time.sleep(0.2)
    assert ask(gateway)[0] == "hit"
    warnings = [record for record in caplog.records if "bypass the cache" in record.getMessage()]
    assert len(warnings) == 1  # one warning per outage, not one per request


def test_embedder_failure_bypasses(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", EMBED_PROVIDER="openai", EMBED_DIM="64")
    fake_upstream.fail_next(500, path="/v1/embeddings")
    state, _, completion = ask(gateway)
    assert state == "bypass" and completion.choices[0].message.content
    time.sleep(gateway.settings.store_retry_secs + 0.1)
    assert ask(gateway, "another question")[0] == "miss"  # the embedder is used again after its rest


@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError),
                                                (400, openai.BadRequestError), (401, openai.AuthenticationError)])
def test_upstream_errors_pass_through_and_are_never_cached(gateway, fake_upstream, status: int, error) -> None:
    fake_upstream.fail_next(status, headers={"retry-after": "7", "x-request-id": "req_upstream"})
    with pytest.raises(error) as caught:
        ask(gateway)
    assert caught.value.status_code == status
    assert caught.value.response.headers["retry-after"] == "7"
    # The gateway's request id names the request; the upstream's own is kept for its support desk.
    assert caught.value.response.headers["x-upstream-request-id"] == "req_upstream"
    assert caught.value.response.headers["x-request-id"] != "req_upstream"
    assert ask(gateway)[0] == "miss"  # the error was not stored
    assert ask(gateway)[0] == "hit"


def test_stream_errors_pass_through(gateway, fake_upstream) -> None:
    fake_upstream.fail_next(429)
    with pytest.raises(openai.RateLimitError):
        stream(gateway)
    assert stream(gateway)[0] == "miss"


def test_unreachable_upstream_is_502(make_gateway) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gateway = make_gateway("memory", UPSTREAM_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(openai.InternalServerError) as caught:
        ask(gateway)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_unreachable"


def test_slow_upstream_is_504(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.delay_next(2.0)
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway)
    assert caught.value.status_code == 504 and caught.value.body["code"] == "upstream_timeout"


def test_malformed_upstream_json_is_502_and_not_cached(gateway, fake_upstream) -> None:
    fake_upstream.malformed_next("json")
    with pytest.raises(openai.InternalServerError) as caught:
        ask(gateway)
    assert caught.value.status_code == 502
    assert ask(gateway)[0] == "miss"


@pytest.mark.parametrize("kind", ["break", "malformed"])
def test_a_broken_stream_reaches_the_client_and_stores_nothing(gateway, fake_upstream, kind: str) -> None:
    if kind == "break":
        fake_upstream.break_stream_next(after_events=3)
    else:
        fake_upstream.malformed_next("sse")
    with pytest.raises(openai.APIError):
        stream(gateway)
    assert ask(gateway)[0] == "miss"


def test_a_cancelled_stream_stores_nothing(gateway, fake_upstream) -> None:
    fake_upstream.chunk_delay = 0.05
    with client(gateway).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True) as raw:
        for _ in zip(range(2), raw.parse(), strict=False):
            pass  # leave after two chunks: the SDK closes the connection
    time.sleep(0.5)
    gateway.drain()
    fake_upstream.chunk_delay = 0
    assert ask(gateway)[0] == "miss"


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (b"[]", 400, None),
    (b'{"model": "gpt-4o-mini"}', 400, "messages"),
    (b'{"model": 3, "messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 1}]}', 400, "messages[0].content"),
])
def test_bad_requests_are_openai_shaped_400s(gateway, fake_upstream, body: bytes, status: int, param) -> None:
    response = httpx.post(f"{gateway.base_url}/chat/completions", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    assert error["type"] == "invalid_request_error" and fake_upstream.calls() == 0


def test_sdk_raises_bad_request_for_missing_messages(gateway) -> None:
    with pytest.raises(openai.BadRequestError):
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])


def test_a_body_over_the_limit_is_413(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", MAX_BODY_BYTES="2048")
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway, "x" * 5000)
    assert caught.value.status_code == 413 and caught.value.body["code"] == "request_too_large"
    chunked = httpx.post(f"{gateway.base_url}/chat/completions", content=iter([b"{" + b" " * 4000 + b"}"]))
    assert chunked.status_code == 413  # no content-length: counted while reading
    assert fake_upstream.calls() == 0


def test_unknown_paths_are_openai_shaped_404s(gateway) -> None:
    response = httpx.get(f"{gateway.url}/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"


def test_a_slow_redis_is_bypassed_within_the_timeout(make_gateway, redis_server, fake_upstream) -> None:
    import threading

    import redis

    gateway = make_gateway("redis", REDIS_TIMEOUT_MS="100")
    ask(gateway)
    sleeper = threading.Thread(target=lambda: redis.Redis.from_url(redis_server.url).execute_command(
        "DEBUG", "SLEEP", "1.5"))
    sleeper.start()
    time.sleep(0.1)
    try:
        started = time.perf_counter()
        state, _, completion = ask(gateway)
        assert state == "bypass" and completion.choices[0].message.content
        assert time.perf_counter() - started < 1.0  # did not wait for Redis to wake up
    finally:
        sleeper.join()
    deadline = time.monotonic() + 5
    while ask(gateway)[0] != "hit":
        assert time.monotonic() < deadline, "the cache did not come back after Redis woke up"
        time.sleep(0.2)


def test_limits_on_messages_and_prompt_length(gateway, fake_upstream) -> None:
    from gateway.wire.requests import MAX_MESSAGES

    too_many = [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1)
    response = httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "m", "messages": too_many})
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
    long_prompt = "Summarise this: " + "lorem ipsum dolor sit amet " * 20_000  # ~540 KB, past the model's 256 pieces
    assert ask(gateway, long_prompt)[0] == "miss"
    assert ask(gateway, long_prompt)[0] == "hit"  # the exact layer keys the whole text
    assert ask(gateway, long_prompt + " and one more word")[0] == "miss"  # same first 256 pieces, other text
    assert fake_upstream.calls() == 2
