"""Thousands of malformed requests against the served gateway (Redis-backed, as deployed): random JSON, every
field of a chat or embeddings request given the wrong type, huge, empty, deeply nested or invalid UTF-8 bodies,
garbage control headers, framing that lies about its length, odd methods and paths.

Every answer must be a 4xx in OpenAI's error shape (or a legitimate pass-through of what the fake upstream said),
never a 500; a rejected request must not touch the cache; and a known cached answer must still be served,
unchanged, at the end. Examples are bounded (`max_examples`) so the file runs in about a minute."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.fake_upstream import EMBEDDINGS_PATH
from tests.support.traffic import wait_until

ERROR_KEYS = {"message", "type", "param", "code"}
KNOWN_PROMPT = "What is the boiling point of water at sea level?"
KNOWN_INPUT = "the embedding everyone asks for"
ADMIN_TOKEN = "fuzz-admin-token"
MAX_BODY = 65536


def fuzz(examples: int) -> settings:
    """Bounded, no deadline (a request may wait for Redis), no example database written into the work tree."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# ---- strategies ---------------------------------------------------------------------------------------------

# Integers stay small: a valid-looking `n` or `dimensions` is forwarded, and the fake upstream would build that
# many answers. Floats, strings and nesting are unrestricted.
_scalars = (st.none() | st.booleans() | st.integers(-100, 100) | st.floats() | st.text(max_size=40)
            | st.sampled_from(["", " ", "user", "system", "text", "audio", "gpt-4o-mini", "\x00", "\u202e", "🙂"]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=16)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


# Deeper than the gateway's JSON encoder goes (orjson: 254 levels), but far from Python's own recursion limit, which
# the test's json.dumps must not approach. Deeper still (past orjson's 1024 for parsing) comes as raw bytes below.
deep_values = st.builds(_nested, st.integers(200, 400), json_values)
# Built by .map so that hypothesis's reports show the recipe, not 60 KB of text.
huge_strings = st.tuples(st.sampled_from(["x", "é", "🙂", " ", "\x00"]), st.sampled_from([15_000, 60_000])).map(
    lambda spec: spec[0] * spec[1])
any_value = st.one_of(json_values, deep_values, huge_strings)


def _chat_base() -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say something harmless."}]}


# Where a wrong value goes: a path into the request, the last step of which is replaced (or deleted).
CHAT_PATHS: list[tuple[Any, ...]] = [
    ("model",), ("messages",), ("messages", 0), ("messages", 0, "role"), ("messages", 0, "content"),
    ("messages", 0, "content", 0), ("messages", 0, "content", 0, "type"), ("messages", 0, "content", 0, "text"),
    ("messages", 0, "name"), ("messages", 0, "tool_calls"), ("messages", 1), ("stream",), ("stream_options",),
    ("stream_options", "include_usage"), ("n",), ("tools",), ("tools", 0), ("tools", 0, "function"),
    ("tool_choice",), ("response_format",), ("modalities",), ("audio",), ("temperature",), ("top_p",),
    ("max_tokens",), ("stop",), ("seed",), ("user",), ("metadata",), ("logit_bias",), ("presence_penalty",),
    ("prediction",), ("a new field",),
]
EMBEDDING_PATHS: list[tuple[Any, ...]] = [
    ("model",), ("input",), ("input", 0), ("input", 1), ("dimensions",), ("encoding_format",), ("user",),
    ("a new field",),
]


def _put(body: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> dict[str, Any]:
    """Set (or delete) `path` in a copy of `body`, creating the containers on the way as the path says."""
    body = json.loads(json.dumps(body))
    node: Any = body
    for step, following in itertools.pairwise(path):
        if isinstance(node, list) and not isinstance(step, int):
            return body  # a list has no named field: this change is a no-op
        if isinstance(node, list):
            while len(node) <= step:
                node.append({} if isinstance(following, str) else [])
            if not isinstance(node[step], (dict, list)):
                node[step] = {} if isinstance(following, str) else []
            node = node[step]
        else:
            if not isinstance(node.get(step), (dict, list)):
                node[step] = {} if isinstance(following, str) else [{"type": "text", "text": "hi"}]
            node = node[step]
    last = path[-1]
    if isinstance(node, list) and not isinstance(last, int):
        return body  # a list has no named field to change: this change is a no-op
    if isinstance(node, list):
        while len(node) <= last:
            node.append(None)
        if delete:
            node.pop(last)
        else:
            node[last] = value
    elif delete:
        node.pop(last, None)
    else:
        node[last] = value
    return body


def _encode(value: Any) -> bytes:
    # Python's json writes NaN, Infinity and lone surrogates as escapes; those bodies are invalid JSON to
    # the gateway too, which is a case worth sending.
    return json.dumps(value).encode("utf-8", "surrogatepass")


def mutated(base: Callable[[], dict[str, Any]], paths: list[tuple[Any, ...]]) -> st.SearchStrategy[bytes]:
    one = st.tuples(st.sampled_from(paths), any_value, st.booleans())
    return st.lists(one, min_size=1, max_size=3).map(
        lambda changes: _encode(_apply(base(), changes)))


def _apply(body: dict[str, Any], changes: list[tuple[tuple[Any, ...], Any, bool]]) -> dict[str, Any]:
    for path, value, delete in changes:
        body = _put(body, path, value, delete)
    return body


invalid_utf8 = st.binary(min_size=1, max_size=12).filter(lambda raw: not _is_utf8(raw))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def raw_bodies(template: bytes) -> st.SearchStrategy[bytes]:
    """Bodies that are rarely a JSON object: random bytes, random JSON values, invalid UTF-8 inside a string,
    lone surrogate escapes, a BOM, bodies cut short, nesting past any parser's limit, and bodies over the limit."""
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(_encode),
        invalid_utf8.map(lambda bad: template.replace(b"PLACE", bad)),
        st.sampled_from([b"", b" ", b"null", b"{", b'{"a":', b"[]", b'"\\ud800"',
                         template.replace(b"PLACE", b"\\ud83d"), template.replace(b"PLACE", b"\\u0000"),
                         b"\xef\xbb\xbf" + template.replace(b"PLACE", b"bom")]),
        st.sampled_from([b"{", b"[", b"[{\"a\":", b" "]).map(lambda piece: piece * (MAX_BODY // len(piece) - 8)),
        st.just(MAX_BODY + 10).map(lambda size: b'{"model": "m", "messages": ' + b" " * size + b"[]}"),
        st.integers(1, 60).map(lambda cut: template.replace(b"PLACE", b"x")[:cut]),
    )


CHAT_TEMPLATE = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "PLACE"}]}'
EMBEDDINGS_TEMPLATE = b'{"model": "text-embedding-3-small", "input": "PLACE"}'

# Header values h11 will put on the wire: no NUL, no CR/LF or other whitespace at the ends.
_header_bytes = st.binary(min_size=1, max_size=40).map(
    lambda raw: bytes(b for b in raw if b not in b"\x00\r\n\x0b\x0c").strip(b" \t") or b"x")
header_values = st.one_of(
    _header_bytes,
    st.sampled_from([b"0", b"-1", b"1", b"00001", b"315360001", b"99999999999999999999", b"1.5", b"1e3", b"nan",
                     b"inf", b"-inf", b"-0", b"2.0000001", b"1e-400", b"0x10", b"1_0", b"\xb2", b"\xb9", b"\xbc",
                     b"\xbd", b"no-store", b"no-cache, no-store", b"max-age=0", b"NO-CACHE", b",,,", b"a" * 65,
                     b"support", b"a/b:c.d-e_f", b"\xe9\xe9", b"application/json", b"text/plain",
                     b"multipart/form-data; boundary=x", b"Bearer", b"Bearer \xff\xfe", b"Basic abc"]),
)
CONTROL_HEADERS = ["x-cache-ttl", "x-cache-threshold", "x-route", "cache-control", "content-type", "authorization",
                   "x-cache-key", "accept", "accept-encoding", "openai-organization"]


# ---- checks -------------------------------------------------------------------------------------------------


def _entries(served) -> int:  # type: ignore[no-untyped-def]
    served.drain()
    health = served.run(served.gateway.policy.store.health())
    return int(health.get("documents", health.get("entries", 0)))


def _blobs(served) -> int:  # type: ignore[no-untyped-def]
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


def _send_and_check(served, http: httpx.Client, method: str, path: str, body: bytes | None,  # type: ignore[no-untyped-def]
                    headers: list[tuple[bytes, bytes]], what: str) -> httpx.Response | None:
    entries_before = _entries(served)
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
        assert _entries(served) == entries_before, f"a rejected request changed the cache: {what}"
    return response


_JSON = [(b"content-type", b"application/json")]


# ---- the fuzz tests ------------------------------------------------------------------------------------------


def test_fuzz_chat_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    # Explicit examples first: regressions found by earlier runs, so that they are tried on every run.
    @fuzz(1500)
    @example(body=b'{"model": "m", "messages": [{"role": [], "content": "x"}]}')
    @example(body=b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "modalities": 5}')
    @example(body=_encode({**_chat_base(), "tools": _nested(300, None)}))
    @given(body=st.one_of(mutated(_chat_base, CHAT_PATHS), raw_bodies(CHAT_TEMPLATE)))
    def chat(body: bytes) -> None:
        _send_and_check(served, http, "POST", "/v1/chat/completions", body, _JSON, f"chat body {body[:200]!r}")

    chat()


def test_fuzz_embedding_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    def base() -> dict[str, Any]:
        return {"model": "text-embedding-3-small", "input": ["one", "two"]}

    @fuzz(600)
    @example(body=_encode({"model": "text-embedding-3-small", "input": [_nested(300, "x")]}))
    @given(body=st.one_of(mutated(base, EMBEDDING_PATHS), raw_bodies(EMBEDDINGS_TEMPLATE)))
    def embeddings(body: bytes) -> None:
        blobs = _blobs(served)
        response = _send_and_check(served, http, "POST", "/v1/embeddings", body, _JSON, f"embeddings {body[:200]!r}")
        if response is None or response.status_code >= 400:
            served.drain()
            assert _blobs(served) == blobs, f"a rejected embeddings request was cached: {body[:200]!r}"

    embeddings()


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
        _send_and_check(served, http, "POST", path, body, headers, f"POST {path} with {headers!r}")

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
        entries = _entries(served)
        seen = len(fake_upstream.requests)
        status, answer_headers, answer = _raw(served.port, method, target, headers, body)
        what = f"{method} {target}"
        if method != "HEAD":
            check_answer(status, answer_headers, answer, what)
        if status >= 400:
            assert _entries(served) == entries, f"a rejected request changed the cache: {what}"
        # Whatever the path, the gateway only ever forwards under the upstream's /v1 base.
        for forwarded in fake_upstream.requests[seen:]:
            assert forwarded.path.startswith("/v1/"), f"{what} reached the upstream as {forwarded.path!r}"

    paths()


# ---- framing: Content-Length that lies, and aborted uploads -------------------------------------------------


def _exchange(port: int, raw: bytes, *, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 4 + _length(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


def _length(raw: bytes) -> int:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _status_and_body(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


_VALID = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "framing"}]}).encode()


@pytest.mark.parametrize(("name", "declared", "half_close"), [
    ("shorter", str(len(_VALID) // 2), False),
    ("zero", "0", False),
    ("longer-then-eof", str(len(_VALID) + 50), True),
    ("not-a-number", "abc", False),
    ("negative", "-5", False),
    ("two-values", f"{len(_VALID)}, {len(_VALID) + 1}", False),
    ("superscript", "\u00b2", False),
])
def test_lying_content_length_is_a_4xx_and_harmless(fuzzed, caplog, name: str, declared: str,
                                                    half_close: bool) -> None:
    served, http = fuzzed
    entries = _entries(served)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n").encode("latin-1")
    raw = _exchange(served.port, head + _VALID, half_close=half_close)
    if raw:  # a client that hung up mid-body may get no answer at all, which is fine
        status, body = _status_and_body(raw)
        assert 400 <= status < 500, f"{name}: {raw[:300]!r}"
        if body:
            check_answer(status, httpx.Headers(), body, name)
    assert _entries(served) == entries
    # A client's framing mistake is not the gateway's failure: nothing is logged as an unexpected error.
    unexpected = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not unexpected, [r.getMessage() for r in unexpected]
    assert http.get("/healthz").status_code == 200


def test_a_client_that_aborts_its_upload_is_not_an_internal_error(fuzzed, caplog) -> None:
    served, http = fuzzed
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n")
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(head + _VALID)  # then leave with 9 KB of the body never sent
    assert http.get("/healthz").status_code == 200

    def logged_errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]

    wait_until(lambda: bool(logged_errors()), timeout=1.0)  # the gateway learns of each abort asynchronously
    assert not logged_errors(), logged_errors()[:3]


def test_oversized_bodies_get_their_413_and_leave_the_connection_usable(fuzzed) -> None:  # type: ignore[no-untyped-def]
    # A client that sends a whole oversized body must read the 413 (not a reset connection, which the SDKs
    # retry as a network error), and its keep-alive connection must not die under the next request.
    served, _ = fuzzed
    failures: list[str] = []
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for attempt in range(300):
            size = (300_000, 1_000_000)[attempt % 2]
            for body, expected in ((b"{" + b" " * size + b"}", 413), (b"{}", 400)):
                try:
                    status = client.post("/v1/chat/completions", content=body, headers=dict(_JSON)).status_code
                except httpx.HTTPError as error:
                    failures.append(f"attempt {attempt}, {len(body)} bytes: {error.__class__.__name__}: {error}")
                    continue
                if status != expected:
                    failures.append(f"attempt {attempt}, {len(body)} bytes: {status} instead of {expected}")
    assert not failures, f"{len(failures)} of 600 requests failed: {failures[:5]}"


# ---- valid but strange: unicode and query-language characters must not break the store ----------------------

_weird_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=60)
_route_text = st.text(st.sampled_from("AZaz09._:/-"), min_size=1, max_size=64)


def test_strange_but_valid_requests_are_cached_like_any_other(fuzzed, fake_upstream) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(80)
    @example(model="_", prompt="x", route="default", key="k")
    @example(model="gpt-4o-mini", prompt="x", route="_", key="k")
    @example(model="\b", prompt="x", route="default", key="k")
    @given(model=_weird_text.filter(lambda text: text.strip() != ""), prompt=_weird_text, route=_route_text,
           key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1, max_size=30))
    def strange(model: str, prompt: str, route: str, key: str) -> None:
        prompt = f"{prompt} {uuid.uuid4().hex}"  # a fresh entry, also when an example is replayed
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        # Threshold 0: two random prompts must not meet in the semantic layer, this is about exact storage.
        headers = {"x-route": route, "authorization": f"Bearer {key}", "x-cache-threshold": "0"}
        failures = served.gateway.policy.store_guard.failures
        first = http.post("/v1/chat/completions", json=body, headers=headers)
        assert first.status_code == 200, first.text[:300]
        # The store is healthy: a strange model, route or prompt must not make it fail. It would be a silent
        # bypass for this request, and for everyone else too while the outage guard rests the store.
        assert served.gateway.policy.store_guard.failures == failures, f"the store failed on {model=} {route=}"
        assert first.headers["x-cache"] == "miss", (first.headers["x-cache"], model, route)
        served.drain()
        second = http.post("/v1/chat/completions", json=body, headers=headers)
        assert second.headers["x-cache"] == "hit", (model, route, prompt)
        assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]

    strange()


@pytest.mark.parametrize(("case", "model", "prompt", "route"), [
    ("route '_'", "gpt-4o-mini", "Which route is this?", "_"),  # a valid route by the README's rule
    ("model '_'", "_", "Which model is this?", "default"),
    ("model with a control character", "\b", "Which model is this?", "default"),
    ("empty prompt", "gpt-4o-mini", "", "default"),
    ("blank prompt", "gpt-4o-mini", "   ", "default"),
])
def test_one_callers_odd_request_does_not_switch_the_cache_off_for_everyone(
        make_gateway, store_kind: str, case: str, model: str, prompt: str, route: str) -> None:
    # The outage guard rests a failing store or embedder for STORE_RETRY_SECS, for every caller: so a request
    # that makes it fail on purpose must not exist, or any one client can turn the cache off for all.
    gateway = make_gateway(store_kind, STORE_RETRY_SECS="30")
    known = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": KNOWN_PROMPT}]}
    paraphrase = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "At sea level, what is the "
                                                                                  "boiling point of water?"}]}
    with httpx.Client(base_url=gateway.base_url, timeout=10,
                      headers={"authorization": "Bearer sk-tenant-one"}) as tenant:
        assert tenant.post("/chat/completions", json=known).headers["x-cache"] == "miss"
        gateway.drain()
        odd = httpx.post(f"{gateway.base_url}/chat/completions", timeout=10, json={
            "model": model, "messages": [{"role": "user", "content": prompt}]},
            headers={"authorization": "Bearer sk-tenant-two", "x-route": route})
        assert odd.status_code in (200, 400), odd.text[:300]
        gateway.drain()
        states = [tenant.post("/chat/completions", json=body).headers["x-cache"] for body in (
            known, paraphrase, {**known, "messages": [{"role": "user", "content": f"Fresh {uuid.uuid4().hex}"}]})]
    guards = gateway.gateway.policy
    assert states == ["hit", "hit", "miss"], (
        f"after another tenant's request with {case}: {states} (store failures {guards.store_guard.failures}, "
        f"embedder failures {guards.embedder_guard.failures})")


def test_fuzz_feedback_bodies(fuzzed) -> None:  # type: ignore[no-untyped-def]
    served, http = fuzzed

    @fuzz(200)
    @given(body=st.one_of(
        st.fixed_dictionaries({}, optional={"id": any_value, "rating": st.sampled_from(["good", "bad"]) | any_value,
                                            "distance": any_value}).map(_encode),
        raw_bodies(b'{"id": "PLACE", "rating": "bad"}')))
    def feedback(body: bytes) -> None:
        response = _send_and_check(served, http, "POST", "/v1/cache/feedback", body, _JSON,
                                   f"feedback {body[:200]!r}")
        assert response is None or response.status_code != 503, "the store was unavailable to feedback"

    feedback()


def test_an_embeddings_request_the_upstream_rejects_is_passed_through_and_not_cached(  # type: ignore[no-untyped-def]
        fuzzed, fake_upstream) -> None:
    served, http = fuzzed
    blobs = _blobs(served)
    fake_upstream.fail_next(400, path=EMBEDDINGS_PATH)
    response = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "rejected upstream"})
    check_answer(response.status_code, response.headers, response.content, "upstream 400")
    served.drain()
    assert response.status_code == 400 and _blobs(served) == blobs
