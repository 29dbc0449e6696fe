"""Garbage control headers, and odd methods and paths (raw, as no client library would send them), against the
fuzzed gateway: never a 500, never a changed cache, and nothing forwarded outside the upstream's /v1 base."""

from __future__ import annotations

import http.client
import json
import uuid

from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.fuzz_checks import ADMIN_TOKEN, check_answer, entries_of, send_and_check
from tests.support.fuzz_strategies import CONTROL_HEADERS, fuzz, header_values


def test_fuzz_control_headers(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(500)
    @example(headers=[(b"x-cache-ttl", b"\xb2")], path="/v1/chat/completions")
    @example(headers=[(b"openai-organization", b"\xe9t\xe9")], path="/v1/chat/completions")
    @given(headers=st.lists(st.tuples(st.sampled_from(CONTROL_HEADERS).map(str.encode), header_values),
                            min_size=1, max_size=4),
           path=st.sampled_from(["/v1/chat/completions", "/v1/embeddings"]))
    def control(headers: list[tuple[bytes, bytes]], path: str) -> None:
        # A fresh prompt each time: a cache hit would skip the upstream call and hide what it does with the
        # headers (and `Cache-Control: no-cache` on the known prompt would rightly refresh it).
        prompt = f"Headers {uuid.uuid4().hex}?"
        body = json.dumps({"model": "gpt-4o-mini", "input": prompt,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        send_and_check(served, http, "POST", path, body, headers, f"POST {path} with {headers!r}")

    control()


_SEGMENTS = ["chat", "completions", "embeddings", "models", "cache", "feedback", "admin", "flush", "entries",
             "stats", "healthz", "v1", "..", ".", "", "%2e%2e", "%2E%2e", "%2f", "%2F..%2F", "%3F", "%23", "%00",
             "%ff", "%c3%a9", "~", "@", ":", ";x=1", "a%20b", "x" * 300]


def _raw(port: int, method: str, target: str, headers: dict[str, str],
         body: bytes | None) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_fuzz_methods_and_paths(fuzzed, fake_upstream) -> None:  # type: ignore[no-untyped-def]
    served, _ = fuzzed

    @fuzz(500)
    @example(method="GET", prefix="/v1/", segments=[".."], query="", admin=False, body=None)
    @example(method="GET", prefix="/v1/", segments=["%2e%2e", "models"], query="", admin=False, body=None)
    @example(method="GET", prefix="/v1/", segments=["%00"], query="", admin=False, body=None)
    @example(method="POST", prefix="/", segments=["healthz", ""], query="", admin=False, body=None)  # no 307
    @given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "FROB"]),
           prefix=st.sampled_from(["/v1/", "/", "/admin/", "//v1/", "/v1//", "/V1/", "/v1/cache/"]),
           segments=st.lists(st.sampled_from(_SEGMENTS), max_size=4),
           query=st.sampled_from(["", "?a=1", "?stream=1", "?%zz", "?status=500"]),
           admin=st.booleans(), body=st.sampled_from([None, b"", b"{}", b"[1]", b"\xff"]))
    def paths(method: str, prefix: str, segments: list[str], query: str, admin: bool, body: bytes | None) -> None:
        target = prefix + "/".join(segments) + query
        headers = {"authorization": f"Bearer {'wrong-' if not admin else ''}{ADMIN_TOKEN}"}
        if "stats" in target or "flush" in target or "entries" in target:
            headers["authorization"] = "Bearer not-the-admin-token"  # never flush the cache under test
        entries = entries_of(served)
        seen = len(fake_upstream.requests)
        status, answer_headers, answer = _raw(served.port, method, target, headers, body)
        what = f"{method} {target}"
        if method != "HEAD":
            check_answer(status, answer_headers, answer, what)
        if status >= 400:
            assert entries_of(served) == entries, f"a rejected request changed the cache: {what}"
        # Whatever the path, the gateway only ever forwards under the upstream's /v1 base.
        for forwarded in fake_upstream.requests[seen:]:
            assert forwarded.path.startswith("/v1/"), f"{what} reached the upstream as {forwarded.path!r}"

    paths()
