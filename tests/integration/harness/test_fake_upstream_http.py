"""The fake upstream beyond chat: embeddings (float and base64), the model list, an echo of any other path, and
HTTP itself: chunked request bodies, concurrent streams, keep-alive, and a prompt stop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import math
import struct
import threading
import time
from typing import Any

import httpx

from tests.integration.harness.calls import ask, client
from tests.support.fake_upstream import FakeUpstream, fake_embedding


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
