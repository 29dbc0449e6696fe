"""What every answer of the fuzzed gateway must be: a 4xx in OpenAI's error shape, or a pass-through of what the
fake upstream said, never a 500; and a rejected request must not touch the cache (its entries and blobs, counted
here). Also what the fuzzed gateway holds: one known chat answer and one known embedding."""

from __future__ import annotations

import http.client
import json
from typing import Any

import httpx
import redis

from tests.support.fuzz_strategies import MAX_BODY

ERROR_KEYS = {"message", "type", "param", "code"}
KNOWN_PROMPT = "What is the boiling point of water at sea level?"
KNOWN_INPUT = "the embedding everyone asks for"
ADMIN_TOKEN = "fuzz-admin-token"
JSON = [(b"content-type", b"application/json")]


def entries_of(served) -> int:  # type: ignore[no-untyped-def]
    served.drain()
    health = served.run(served.gateway.policy.layers.store.health())
    return int(health.get("documents", health.get("entries", 0)))


def blobs_of(served) -> int:  # type: ignore[no-untyped-def]
    """Cached embeddings (blobs) in the gateway's Redis key space."""
    served.drain()
    with redis.Redis.from_url(served.settings.redis_url) as client:
        return sum(1 for _ in client.scan_iter(match=f"{served.settings.key_prefix}blob:*", count=1000))


def _from_upstream(headers: httpx.Headers | http.client.HTTPMessage) -> bool:
    servers = headers.get_list("server") if isinstance(headers, httpx.Headers) else headers.get_all("server") or []
    return any("FakeOpenAI" in server for server in servers)


def check_answer(status: int, headers: httpx.Headers | http.client.HTTPMessage, body: bytes, what: str) -> None:
    """A 4xx in OpenAI's shape, or a pass-through of the fake upstream; never a 500 from the gateway itself."""
    assert b'"internal_error"' not in body, f"{status} internal error for {what}: {body[:300]!r}"
    if _from_upstream(headers):
        return  # whatever the upstream said is passed through as it said it
    if status >= 500:
        code = _error_of(body, what).get("code") or ""
        # Only the upstream failing (the fake refusing garbage by hanging up) may be a 5xx, said as such.
        assert str(code).startswith("upstream_"), f"{status} for {what}: {body[:300]!r}"
    if status >= 400:
        error = _error_of(body, what)
        assert set(error) == ERROR_KEYS, f"{status} not in OpenAI's error shape for {what}: {body[:300]!r}"
        assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    else:
        assert status in (200, 201, 204), f"{status} for {what}"


def _error_of(body: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise AssertionError(f"an error that is not JSON for {what}: {body[:300]!r}") from None
    assert isinstance(parsed, dict) and isinstance(parsed.get("error"), dict), f"{what}: {body[:300]!r}"
    return parsed["error"]


def send_and_check(served, http: httpx.Client, method: str, path: str, body: bytes | None,  # type: ignore[no-untyped-def]
                   headers: list[tuple[bytes, bytes]], what: str) -> httpx.Response | None:
    entries_before = entries_of(served)
    # An oversized body is answered 413 before it is read, and the connection then dies under the client (see
    # test_oversized_bodies_get_their_413_and_leave_the_connection_usable): here, keep that known failure from
    # breaking the next example's request, and from hiding what else this example finds.
    oversized = body is not None and len(body) > MAX_BODY
    try:
        response = http.request(method, path, content=body,
                                headers=[*headers, (b"connection", b"close")] if oversized else headers)
    except httpx.TransportError:
        if oversized:
            return None
        raise
    check_answer(response.status_code, response.headers, response.content, what)
    if response.status_code >= 400:
        assert entries_of(served) == entries_before, f"a rejected request changed the cache: {what}"
    return response
