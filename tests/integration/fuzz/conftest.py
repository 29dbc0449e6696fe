"""The fuzzed gateway: served, Redis-backed, as deployed, holding one known chat answer and one known embedding
that it must still serve, unchanged, once a test has thrown what it throws at it."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fuzz_checks import ADMIN_TOKEN, KNOWN_INPUT, KNOWN_PROMPT
from tests.support.fuzz_strategies import MAX_BODY


@pytest.fixture
def fuzzed(make_gateway, fake_upstream):  # type: ignore[no-untyped-def]
    """A Redis-backed gateway holding one known chat answer and one known embedding."""
    # STORE_RETRY_SECS=0: a store failure caused by one example must not turn the next ones into bypasses.
    gateway = make_gateway("redis", MAX_BODY_BYTES=str(MAX_BODY), ADMIN_TOKEN=ADMIN_TOKEN, STORE_RETRY_SECS="0")
    http = httpx.Client(base_url=gateway.url, timeout=15)
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": KNOWN_PROMPT}]}
    known = http.post("/v1/chat/completions", json=chat).json()["choices"][0]["message"]["content"]
    embedding = {"model": "text-embedding-3-small", "input": KNOWN_INPUT}
    known_vector = http.post("/v1/embeddings", json=embedding).json()["data"][0]["embedding"]
    gateway.drain()
    assert http.post("/v1/chat/completions", json=chat).headers["x-cache"] == "hit"
    yield gateway, http
    # Whatever was thrown at it, the cache still serves what it held, unchanged.
    after = http.post("/v1/chat/completions", json=chat)
    assert after.headers["x-cache"] == "hit" and after.json()["choices"][0]["message"]["content"] == known
    again = http.post("/v1/embeddings", json=embedding)
    assert again.headers["x-cache"] == "hit" and again.json()["data"][0]["embedding"] == known_vector
    http.close()
