"""Content encodings of upstream answers. The gateway asks only for encodings it can decode and decodes them
(gzip, deflate, br, zstd); an answer in another one is relayed as it came, with its `content-encoding`, by the
passthrough, and is a 502 `upstream_protocol_error` (an SSE error event once a stream started) on the cached
endpoints, which must read it. A body that does not decode is a 502 too; nothing of these is ever cached."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support.clients import PROMPT, ask, stream, text_of
from tests.support.fake_upstream import EMBEDDINGS_PATH, encode_body, iter_sse_data

DECODED = ["gzip", "deflate", "br", "zstd"]
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def gateway(make_gateway):
    return make_gateway("memory")  # the store plays no part in how a body is decoded


def test_upstream_is_offered_only_the_encodings_the_gateway_decodes(gateway, fake_upstream) -> None:
    httpx.get(f"{gateway.base_url}/models", headers={"accept-encoding": "x-custom, identity;q=0"})
    offered = fake_upstream.last("/v1/models").headers["accept-encoding"]
    assert {coding.strip() for coding in offered.split(",")} == set(DECODED)


@pytest.mark.parametrize("encoding", DECODED)
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_chat_answer_in_a_known_encoding_is_decoded_and_cached(gateway, fake_upstream, encoding: str,
                                                                 streamed: bool) -> None:
    fake_upstream.encode_next(encoding)
    if streamed:
        state, chunks = stream(gateway)
        answer = text_of(chunks)
    else:
        state, headers, completion = ask(gateway)
        answer = completion.choices[0].message.content
        assert "content-encoding" not in headers
    assert state == "miss" and answer.startswith("answer ") and answer.endswith(PROMPT)
    assert ask(gateway)[0] == "hit"


def _chat(gateway, *, streamed: bool) -> tuple[int, dict]:
    """(status, error) of a chat request that is expected to fail, read by hand."""
    body = {"model": "gpt-4o-mini", "stream": streamed, "messages": [{"role": "user", "content": PROMPT}]}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=10)
    assert "content-encoding" not in response.headers  # the gateway wrote this body itself
    if streamed and response.status_code == 200:
        events = list(iter_sse_data(response.content))
        assert "[DONE]" not in events
        return 200, json.loads(events[-1])
    return response.status_code, response.json()


@pytest.mark.parametrize(("encoding", "corrupt"), [("x-custom", False), ("gzip, x-custom", False), ("gzip", True),
                                                   ("zstd", True)])
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_a_chat_answer_the_gateway_cannot_decode_is_a_502_and_not_cached(gateway, fake_upstream, encoding: str,
                                                                         corrupt: bool, streamed: bool) -> None:
    fake_upstream.encode_next(encoding, corrupt=corrupt)
    status, payload = _chat(gateway, streamed=streamed)
    assert status == (200 if streamed else 502)  # a stream that started ends with the error as its last event
    assert set(payload["error"]) == ERROR_KEYS and payload["error"]["code"] == "upstream_protocol_error"
    gateway.drain()
    assert ask(gateway)[0] == "miss"


def test_the_sdk_sees_an_undecodable_stream_as_an_api_error(gateway, fake_upstream) -> None:
    fake_upstream.encode_next("x-custom")
    with pytest.raises(openai.APIError) as caught:
        stream(gateway)
    assert caught.value.body["code"] == "upstream_protocol_error"


@pytest.mark.parametrize(("encoding", "cached"), [("br", True), ("zstd", True), ("x-custom", False)])
def test_embeddings_are_decoded_or_refused(gateway, fake_upstream, encoding: str, cached: bool) -> None:
    fake_upstream.encode_next(encoding, path=EMBEDDINGS_PATH)
    request = {"model": "text-embedding-3-small", "input": "an encoded vector", "dimensions": 8}
    first = httpx.post(f"{gateway.base_url}/embeddings", json=request)
    if cached:
        assert first.status_code == 200 and len(first.json()["data"][0]["embedding"]) == 8
    else:
        assert first.status_code == 502 and first.json()["error"]["code"] == "upstream_protocol_error"
    gateway.drain()
    again = httpx.post(f"{gateway.base_url}/embeddings", json=request)
    assert again.headers["x-cache"] == ("hit" if cached else "miss")


@pytest.mark.parametrize("encoding", DECODED)
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_a_passthrough_answer_in_a_known_encoding_is_relayed_decoded(gateway, fake_upstream, encoding: str,
                                                                    streamed: bool) -> None:
    fake_upstream.encode_next(encoding, path="/v1/files/f")
    response = httpx.get(f"{gateway.base_url}/files/f", params={"stream": "1"} if streamed else None)
    assert response.status_code == 200 and "content-encoding" not in response.headers
    if streamed:
        assert response.text == "".join(f"line {i}\n" for i in range(1, 6))
    else:
        assert response.json()["path"] == "/v1/files/f"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_a_passthrough_answer_in_another_encoding_is_relayed_as_it_came(gateway, fake_upstream,
                                                                       streamed: bool) -> None:
    fake_upstream.encode_next("x-custom", path="/v1/files/f")
    response = httpx.get(f"{gateway.base_url}/files/f", params={"stream": "1"} if streamed else None)
    assert response.status_code == 200 and response.headers["content-encoding"] == "x-custom"
    if streamed:
        assert response.content == encode_body("".join(f"line {i}\n" for i in range(1, 6)).encode(), "x-custom")
    else:
        assert json.loads(encode_body(response.content, "x-custom"))["path"] == "/v1/files/f"  # reversed twice


def test_a_corrupt_passthrough_answer_fails_visibly(gateway, fake_upstream) -> None:
    """Its head was relayed before the body turned out not to decode: the body breaks off, never looks whole."""
    fake_upstream.encode_next("gzip", corrupt=True, path="/v1/files/f")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{gateway.base_url}/files/f")
    assert httpx.get(f"{gateway.base_url}/files/f").status_code == 200
