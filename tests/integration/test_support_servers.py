"""Tests of the test helpers themselves: the fake OpenAI upstream and the Redis 8 launcher."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import math
import os
import re
import struct
import threading
import time
import uuid
from typing import Any

import httpx
import openai
import pytest
import redis
from redis.asyncio import Redis

from tests.support.fake_upstream import FakeUpstream, fake_embedding, iter_sse_data
from tests.support.redis_server import RedisServer, RedisServerError

ANSWER = re.compile(r"^answer (\d+) to: (.*)$", re.S)
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def client(upstream: FakeUpstream, key: str = "sk-test") -> openai.OpenAI:
    # No retries: a retried request would hide which injected behaviour the SDK actually saw.
    return openai.OpenAI(base_url=upstream.base_url, api_key=key, max_retries=0, timeout=10)


def ask(text: str) -> list[Any]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


# ---- FakeUpstream: chat ---------------------------------------------------------------------------------


def test_chat_non_stream_shape_and_fresh_numbers(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream, "sk-abc") as sdk:
        first = sdk.chat.completions.create(model="gpt-4o-mini", messages=ask("hello there"))
        second = sdk.chat.completions.create(model="gpt-4o-mini", messages=ask("hello there"))

    m1 = ANSWER.match(first.choices[0].message.content or "")
    m2 = ANSWER.match(second.choices[0].message.content or "")
    assert m1 and m2 and m1.group(2) == "hello there"
    assert int(m2.group(1)) > int(m1.group(1))
    assert first.id == f"chatcmpl-fake-{m1.group(1)}"
    assert first.object == "chat.completion" and first.model == "gpt-4o-mini"
    assert first.system_fingerprint == "fp_fake"
    assert first.choices[0].finish_reason == "stop" and first.choices[0].message.refusal is None
    assert first.usage is not None
    assert first.usage.prompt_tokens == 4  # "be brief" + "hello there"
    assert first.usage.completion_tokens == 5
    assert first.usage.total_tokens == 9
    assert fake_upstream.calls() == 2
    last = fake_upstream.last()
    assert last is not None and last.headers["authorization"] == "Bearer sk-abc"
    assert last.json is not None and last.json["model"] == "gpt-4o-mini"


def test_chat_raw_json_keys_match_openai(fake_upstream: FakeUpstream) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}],
        "n": 2,
    }
    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5)
    data = response.json()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert list(data) == ["id", "object", "created", "model", "choices", "usage", "system_fingerprint"]
    assert [c["index"] for c in data["choices"]] == [0, 1]
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": data["choices"][0]["message"]["content"],
        "refusal": None,
    }
    assert data["choices"][0]["logprobs"] is None
    assert data["choices"][0]["message"]["content"] != data["choices"][1]["message"]["content"]
    assert data["choices"][1]["message"]["content"].endswith(" to: a b")


def test_chat_stream_words_then_finish(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=ask("one  two\tthree "), stream=True))

    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    words = [c.choices[0].delta.content for c in chunks[1:-1]]
    text = "".join(w or "" for w in words)
    match = ANSWER.match(text)
    assert match and match.group(2) == "one  two\tthree "  # streamed text is byte-identical to the prompt
    assert words[0] == "answer" and all(w and w[0].isspace() for w in words[1:])
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].delta.content is None
    assert all(c.usage is None for c in chunks)
    assert {c.id for c in chunks} == {f"chatcmpl-fake-{match.group(1)}"}
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_stream_include_usage(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        stream = sdk.chat.completions.create(
            model="gpt-4o", messages=ask("count me"), stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 4 and chunks[-1].usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"

    # On the wire every earlier chunk carries an explicit "usage": null, as OpenAI's do.
    body = {"model": "m", "messages": ask("x"), "stream": True, "stream_options": {"include_usage": True}}
    raw = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5)
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.headers["transfer-encoding"] == "chunked"
    payloads = list(iter_sse_data(raw.content))
    assert payloads[-1] == "[DONE]"
    events = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" in e and e["usage"] is None for e in events[:-1])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 3 + 4


def test_chat_tool_call_non_stream_and_stream(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        done = sdk.chat.completions.create(model="gpt-4o", messages=ask("weather in Oslo"), tools=TOOLS)
        chunks = list(
            sdk.chat.completions.create(model="gpt-4o", messages=ask("weather in Oslo"), tools=TOOLS, stream=True)
        )

    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "lookup"
    assert call.id == f"call_{done.id.rsplit('-', 1)[1]}"
    assert json.loads(call.function.arguments) == {"q": "weather in Oslo"}
    assert done.usage is not None and done.usage.completion_tokens == 4  # '{"q":', '"weather', 'in', 'Oslo"}'

    head = chunks[0].choices[0].delta
    assert head.role == "assistant" and head.tool_calls is not None
    assert head.tool_calls[0].id and head.tool_calls[0].function is not None
    assert head.tool_calls[0].function.name == "lookup" and head.tool_calls[0].function.arguments == ""
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:-1]]  # type: ignore[index,union-attr]
    assert len(pieces) == 3 and json.loads("".join(pieces)) == {"q": "weather in Oslo"}  # type: ignore[arg-type]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_validation_error(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk, pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="gpt-4o", messages=[])
    assert err.value.status_code == 400 and err.value.param == "messages"
    raw = httpx.post(f"{fake_upstream.base_url}/chat/completions", json={"messages": ask("x")}, timeout=5)
    assert raw.status_code == 400 and raw.json()["error"]["param"] == "model"


# ---- FakeUpstream: injected behaviours ------------------------------------------------------------------


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


# ---- FakeUpstream: embeddings, models, echo, HTTP -------------------------------------------------------


def test_embeddings_float_and_base64(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        result = sdk.embeddings.create(model="text-embedding-3-small", input=["a cat", "a dog"], dimensions=8)
        default = sdk.embeddings.create(model="text-embedding-3-small", input="a cat")  # SDK asks base64
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1] and all(len(v) == 8 for v in vectors)
    assert vectors[0] != vectors[1] and vectors[0] == fake_embedding("a cat", 8)
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    assert default.data[0].embedding == fake_embedding("a cat")
    assert result.usage.prompt_tokens == 4 and result.usage.total_tokens == 4
    assert len(default.data[0].embedding) == 1536
    assert fake_upstream.last("/v1/embeddings").json["encoding_format"] == "base64"  # type: ignore[union-attr]

    raw = httpx.post(
        f"{fake_upstream.base_url}/embeddings",
        json={"model": "e", "input": "a cat", "dimensions": 8, "encoding_format": "base64"},
        timeout=5,
    ).json()
    assert list(struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"]))) == vectors[0]


def test_models_list(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        ids = [m.id for m in sdk.models.list()]
    assert "gpt-4o-mini" in ids


def test_echo_other_paths(fake_upstream: FakeUpstream) -> None:
    url = f"{fake_upstream.base_url}/files/abc?purpose=x&purpose=y"
    response = httpx.put(url, content=b"payload", headers={"X-Custom": "1", "Authorization": "Bearer k"}, timeout=5)
    echo = response.json()
    assert response.status_code == 200 and response.headers["x-echo"] == "1"
    assert echo["method"] == "PUT" and echo["path"] == "/v1/files/abc"
    assert echo["query"] == "purpose=x&purpose=y" and echo["body"] == "payload"
    assert echo["headers"]["x-custom"] == "1" and echo["headers"]["authorization"] == "Bearer k"

    assert httpx.delete(f"{fake_upstream.base_url}/files/abc?status=404", timeout=5).status_code == 404
    with httpx.stream("GET", f"{fake_upstream.base_url}/anything?stream=1&status=202", timeout=5) as streamed:
        lines = list(streamed.iter_lines())
        assert streamed.status_code == 202 and streamed.headers["transfer-encoding"] == "chunked"
    assert lines == [f"line {i}" for i in range(1, 6)]


def test_chunked_request_body_is_read(fake_upstream: FakeUpstream) -> None:
    def body() -> Any:
        yield b'{"model": "m", '
        yield b'"messages": [{"role": "user", "content": "chunky"}]}'

    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", content=body(), timeout=5)
    assert response.status_code == 200
    assert fake_upstream.last() is not None and fake_upstream.last().headers["transfer-encoding"] == "chunked"  # type: ignore[union-attr]
    assert response.json()["choices"][0]["message"]["content"].endswith("to: chunky")


def test_concurrent_async_streams(fake_upstream: FakeUpstream) -> None:
    fake_upstream.chunk_delay = 0.05

    async def one(http: httpx.AsyncClient, i: int) -> str:
        body = {"model": "m", "messages": ask(f"q{i}"), "stream": True}
        text = ""
        async with http.stream("POST", "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    text += delta.get("content") or ""
        return text

    async def main() -> list[str]:
        async with httpx.AsyncClient(base_url=fake_upstream.base_url, timeout=5) as http:
            return await asyncio.gather(*(one(http, i) for i in range(6)))

    started = time.monotonic()
    texts = asyncio.run(main())
    # Six streams of 7 events 50 ms apart: one after the other would take 1.8 s.
    assert time.monotonic() - started < 1.0
    assert [t.rsplit(" ", 1)[1] for t in texts] == [f"q{i}" for i in range(6)]


def test_keep_alive_reuses_the_connection(fake_upstream: FakeUpstream) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_upstream.port, timeout=5)
    try:
        conn.request("GET", "/v1/models")
        assert conn.getresponse().read()
        sock = conn.sock
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "m", "messages": ask("x")}))
        assert json.loads(conn.getresponse().read())["object"] == "chat.completion"
        assert conn.sock is sock and sock is not None
    finally:
        conn.close()


def test_stop_is_prompt_with_idle_and_busy_connections() -> None:
    upstream = FakeUpstream().start()
    idle = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=5)
    idle.request("GET", "/v1/models")
    idle.getresponse().read()
    upstream.delay_next(30)
    busy = threading.Thread(
        target=lambda: _swallow(
            lambda: httpx.post(
                f"{upstream.base_url}/chat/completions", json={"model": "m", "messages": ask("x")}, timeout=10
            )
        )
    )
    busy.start()
    deadline = time.monotonic() + 5
    while upstream.calls() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    started = time.monotonic()
    upstream.stop()
    assert time.monotonic() - started < 2
    busy.join(5)
    idle.close()
    assert not busy.is_alive()
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-upstream")]


def _swallow(fn: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):
        fn()


# ---- RedisServer ----------------------------------------------------------------------------------------


def _vec(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def _search_ids(reply: Any) -> list[bytes]:
    # RESP2 answers [total, id, fields, ...]; RESP3 a map with b"results" (see the report in the PR).
    if isinstance(reply, dict):
        return [r[b"id"] for r in reply[b"results"]]
    return list(reply[1::2])


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_query_engine_and_field_expiry(redis_server: RedisServer, protocol: int) -> None:
    tag = uuid.uuid4().hex[:8]
    index, prefix = f"idx-{tag}", f"doc-{tag}:"

    async def scenario() -> None:
        r = Redis.from_url(redis_server.url, decode_responses=False, protocol=protocol)
        try:
            await r.execute_command(
                "FT.CREATE",
                index,
                "ON",
                "HASH",
                "PREFIX",
                "1",
                prefix,
                "SCHEMA",
                "model",
                "TAG",
                "tenant",
                "TAG",
                "emb",
                "VECTOR",
                "HNSW",
                "6",
                "TYPE",
                "FLOAT32",
                "DIM",
                "3",
                "DISTANCE_METRIC",
                "COSINE",
            )
            docs = {
                "1": ("gpt-4o", "a", _vec(1, 0, 0)),
                "2": ("gpt-4o", "b", _vec(1, 0, 0)),
                "3": ("gpt-4o", "a", _vec(0, 1, 0)),
                "4": ("other", "a", _vec(1, 0.1, 0)),
            }
            for key, (model, tenant, emb) in docs.items():
                await r.hset(f"{prefix}{key}", mapping={"model": model, "tenant": tenant, "emb": emb})
            query = "(@model:{gpt\\-4o} @tenant:{a})=>[KNN 3 @emb $v AS dist]"
            args = (
                "PARAMS",
                "2",
                "v",
                _vec(1, 0, 0),
                "SORTBY",
                "dist",
                "RETURN",
                "1",
                "dist",
                "DIALECT",
                "2",
            )
            reply = await r.execute_command("FT.SEARCH", index, query, *args)
            assert _search_ids(reply) == [f"{prefix}1".encode(), f"{prefix}3".encode()]

            key = f"{prefix}1"
            assert await r.execute_command("HSETEX", key, "EX", "1", "FIELDS", "1", "resp", "v") == 1
            await asyncio.sleep(1.3)
            reply = await r.execute_command("FT.SEARCH", index, query, *args)
            assert _search_ids(reply)[0] == key.encode()  # the document outlives its expired field
            assert await r.execute_command("HGETEX", key, "EX", "10", "FIELDS", "1", "resp") == [None]
            assert await r.hgetex(key, "resp", ex=10) == [None]
        finally:
            await r.execute_command("FT.DROPINDEX", index, "DD")
            await r.aclose()

    asyncio.run(scenario())


@pytest.mark.skipif(bool(os.environ.get("TEST_REDIS_URL")), reason="TEST_REDIS_URL: no local Redis to start")
def test_redis_restart_keeps_port_and_starts_empty() -> None:
    with RedisServer() as server:
        port, pid = server.port, server.pid
        assert server.url == f"redis://127.0.0.1:{port}/0" and server.is_running
        sync = redis.Redis.from_url(server.url, socket_timeout=2)
        sync.set("k", "v")
        assert [m[b"name"] for m in sync.module_list()].count(b"search") == 1

        server.stop()
        assert not server.is_running
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()

        server.restart()
        assert server.is_running and server.port == port and server.pid != pid
        assert sync.get("k") is None  # the pooled connection reconnects; data did not survive
        assert sync.execute_command("FT._LIST") in ([], set())
        sync.close()
    assert not server.is_running


@pytest.mark.skipif(bool(os.environ.get("TEST_REDIS_URL")), reason="TEST_REDIS_URL: no local Redis to start")
def test_redis_start_failure_reports_the_log() -> None:
    server = RedisServer(extra_args=["--loadmodule", "/nonexistent/module.so"], startup_timeout=5)
    with pytest.raises(RedisServerError, match=r"(?s)exited with.*log tail.*nonexistent"):
        server.start()
    assert not server.is_running
