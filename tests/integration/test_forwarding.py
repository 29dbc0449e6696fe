"""Everything that is not a chat completion: embeddings with their exact cache (input by input:
`test_embeddings_per_input.py`), other `/v1` requests forwarded untouched, the Authorization rule and `/healthz`."""

from __future__ import annotations

import httpx
import openai
import pytest
import redis

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, ask, client
from tests.support.traffic import wait_until


def test_identical_embeddings_requests_hit_the_exact_cache(gateway, fake_upstream) -> None:
    embeddings = client(gateway).embeddings.with_raw_response
    first = embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    gateway.drain()
    second = embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert second.parse().data[1].embedding == first.parse().data[1].embedding
    for change, state in (({"input": ["a", "c"]}, "partial"), ({"dimensions": 16}, "miss"),
                          ({"encoding_format": "float"}, "miss")):  # the SDK asks for base64 unless told
        request = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8, **change}
        assert embeddings.create(**request).headers["x-cache"] == state
    other_key = client(gateway, "sk-other").embeddings.with_raw_response
    assert other_key.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8).headers[
        "x-cache"] == "miss"
    assert fake_upstream.calls("/v1/embeddings") == 5


def test_embeddings_errors_are_not_cached(gateway, fake_upstream) -> None:
    fake_upstream.fail_next(500, path="/v1/embeddings")
    response = httpx.post(f"{gateway.base_url}/embeddings", json={"model": "m", "input": "a"})
    assert response.status_code == 500
    gateway.drain()
    assert httpx.post(f"{gateway.base_url}/embeddings", json={"model": "m", "input": "a"}).headers[
        "x-cache"] == "miss"


def test_models_list_is_forwarded(gateway, fake_upstream) -> None:
    models = client(gateway).models.list()
    assert len(models.data) >= 1
    assert fake_upstream.last("/v1/models").headers["authorization"] == "Bearer sk-client-one"


def test_other_requests_are_forwarded_untouched(gateway, fake_upstream) -> None:
    response = httpx.request("PATCH", f"{gateway.base_url}/files/abc?status=418&x=1", content=b"raw \x00 body",
                             headers={"x-custom": "yes", "content-type": "application/octet-stream"})
    assert response.status_code == 418 and response.headers["x-echo"] == "1"
    echo = response.json()
    assert (echo["method"], echo["path"]) == ("PATCH", "/v1/files/abc")
    assert "x=1" in str(echo["query"]) and echo["headers"]["x-custom"] == "yes"
    recorded = fake_upstream.last("/v1/files/abc")
    assert recorded.body == b"raw \x00 body"
    assert "connection" not in {name for name in recorded.headers if name == "proxy-connection"}


def test_relayed_answers_carry_one_date_and_one_server(gateway, fake_upstream) -> None:
    """The fake upstream dates and signs its answers like any HTTP server; hypercorn would add its own."""
    for path, body in (("/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "date?"}]}),
                       ("/models", None)):
        response = httpx.request("POST" if body else "GET", gateway.base_url + path, json=body)
        assert response.status_code == 200
        assert len(response.headers.get_list("date")) == 1, response.headers
        assert response.headers.get_list("server") == ["FakeOpenAI/1.0"], response.headers


def test_a_forwarded_body_keeps_the_length_the_client_declared(gateway, fake_upstream) -> None:
    """Simple upstreams (Python's http.server, some proxies) read a chunked body as empty."""
    payload = b"x" * 70_000
    response = httpx.post(f"{gateway.base_url}/files", content=payload, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    forwarded = fake_upstream.last("/v1/files")
    assert forwarded.headers["content-length"] == str(len(payload)) and "transfer-encoding" not in forwarded.headers
    assert forwarded.body == payload

    def chunks():  # no length declared: it goes as it came, chunked
        yield b"a" * 10
        yield b"b" * 10

    assert httpx.request("GET", f"{gateway.base_url}/files", content=b"{}").status_code == 200  # a GET's body stays
    assert "content-length" not in fake_upstream.last("/v1/files").headers
    httpx.post(f"{gateway.base_url}/files", content=chunks())
    forwarded = fake_upstream.last("/v1/files")
    assert forwarded.headers["transfer-encoding"] == "chunked" and forwarded.body == b"a" * 10 + b"b" * 10


def test_streamed_bodies_are_forwarded_as_they_come(gateway, fake_upstream) -> None:
    with httpx.stream("GET", f"{gateway.base_url}/anything?stream=1") as response:
        parts = [part for part in response.iter_bytes() if part]
    assert b"".join(parts).count(b"\n") == 5


def test_client_authorization_is_forwarded_else_the_configured_key(gateway, fake_upstream) -> None:
    ask(gateway, key="sk-client-own")
    assert fake_upstream.last().headers["authorization"] == "Bearer sk-client-own"
    httpx.post(f"{gateway.base_url}/chat/completions",
               json={"model": "m", "messages": [{"role": "user", "content": "no key here"}]})
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_healthz_reports_store_embedder_and_upstream(gateway) -> None:
    health = httpx.get(f"{gateway.url}/healthz")
    assert health.status_code == 200
    state = health.json()
    assert state["status"] == "ok"
    assert state["store"]["ok"] is True and state["store"]["backend"] in {"memory", "redis"}
    assert state["embedder"]["dim"] == 384 and state["upstream"]["open"] is True
    assert UPSTREAM_KEY not in health.text


def test_healthz_shows_no_credential_of_the_upstream_url(make_gateway, fake_upstream) -> None:
    base = fake_upstream.base_url.replace("http://", "http://user:hunter2pass@") + "?key=sk-in-query"
    gateway = make_gateway("memory", UPSTREAM_BASE_URL=base)
    health = httpx.get(f"{gateway.url}/healthz").text
    assert "hunter2pass" not in health and "sk-in-query" not in health and fake_upstream.base_url in health


def test_healthz_reports_a_stopped_redis(make_gateway, redis_server) -> None:
    gateway = make_gateway("redis")
    redis_server.stop()
    try:  # the store is asked at most once a second, however often /healthz is
        assert wait_until(lambda: httpx.get(f"{gateway.url}/healthz").json()["status"] == "degraded", timeout=5)
        assert httpx.get(f"{gateway.url}/healthz").json()["store"]["ok"] is False
    finally:
        redis_server.restart()


def test_healthz_asks_the_store_at_most_once_a_second(make_gateway, redis_server) -> None:
    """/healthz needs no key, and FT.INFO on a large index costs Redis milliseconds: probes must not add up."""
    gateway = make_gateway("redis")
    with redis.Redis.from_url(redis_server.url) as client:
        before = int(client.info("commandstats").get("cmdstat_FT.INFO", {}).get("calls", 0))
        for _ in range(50):
            assert httpx.get(f"{gateway.url}/healthz").status_code == 200
        after = int(client.info("commandstats").get("cmdstat_FT.INFO", {}).get("calls", 0))
    assert after - before <= 5


def test_sdk_errors_from_the_gateway_carry_openai_fields(gateway) -> None:
    try:
        client(gateway).chat.completions.create(model="m", messages=[{"role": "wizard", "content": "x"}])
    except openai.BadRequestError as error:
        assert error.param == "messages[0].role" and error.type == "invalid_request_error"
    else:
        raise AssertionError("expected a 400")


def test_openai_embedder_uses_the_upstream_embeddings_api(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, EMBED_PROVIDER="openai")
    assert httpx.get(f"{gateway.url}/healthz").json()["embedder"] == {
        "ok": True, "name": "openai:text-embedding-3-small", "dim": 1536}
    ask(gateway, "some question", key="sk-emb")
    request = fake_upstream.last("/v1/embeddings")
    assert request.json == {"model": "text-embedding-3-small", "input": "some question", "dimensions": 1536}
    assert request.headers["authorization"] == "Bearer sk-emb"  # embedded with the caller's key
    # the fake's vectors are unrelated per text, so a loose per-request threshold proves vectors were stored
    state, headers, _ = ask(gateway, "some questions", key="sk-emb", headers={"x-cache-threshold": "2"})
    assert state == "hit" and headers["x-cache-layer"] == "semantic"


@pytest.mark.parametrize("status", [400, 401, 429])
def test_an_embeddings_refusal_for_one_caller_bypasses_that_request_only(make_gateway, fake_upstream,
                                                                         status: int) -> None:
    """A text too long for the model, a caller's bad key or its rate limit is that caller's, not an outage."""
    gateway = make_gateway("memory", EMBED_PROVIDER="openai")
    ask(gateway, PROMPT, key="sk-good")
    fake_upstream.fail_next(status, path="/v1/embeddings")
    assert ask(gateway, "a question too long to embed", key="sk-bad")[0] == "bypass"
    assert not gateway.gateway.policy.layers.embedder_guard.down
    state, headers, _ = ask(gateway, PARAPHRASE, key="sk-good", headers={"x-cache-threshold": "2"})
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
