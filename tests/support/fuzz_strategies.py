"""What the fuzz tests throw at the served gateway, as hypothesis strategies: random JSON, a valid chat or
embeddings request with fields given the wrong type (or deleted), huge, empty, deeply nested or invalid UTF-8
bodies, and garbage control headers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MAX_BODY = 65536  # the fuzzed gateway's MAX_BODY_BYTES


def fuzz(examples: int) -> settings:
    """Bounded, no deadline (a request may wait for Redis), no example database written into the work tree."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# Integers stay small: a valid-looking `n` or `dimensions` is forwarded, and the fake upstream would build that
# many answers. Floats, strings and nesting are unrestricted.
_scalars = (st.none() | st.booleans() | st.integers(-100, 100) | st.floats() | st.text(max_size=40)
            | st.sampled_from(["", " ", "user", "system", "text", "audio", "gpt-4o-mini", "\x00", "\u202e", "🙂"]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=16)


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


# Deeper than the gateway's JSON encoder goes (orjson: 254 levels), but far from Python's own recursion limit, which
# the test's json.dumps must not approach. Deeper still (past orjson's 1024 for parsing) comes as raw bytes below.
deep_values = st.builds(nested, st.integers(200, 400), json_values)
# Built by .map so that hypothesis's reports show the recipe, not 60 KB of text.
huge_strings = st.tuples(st.sampled_from(["x", "é", "🙂", " ", "\x00"]), st.sampled_from([15_000, 60_000])).map(
    lambda spec: spec[0] * spec[1])
any_value = st.one_of(json_values, deep_values, huge_strings)


def chat_base() -> dict[str, Any]:
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


def encode(value: Any) -> bytes:
    # Python's json writes NaN, Infinity and lone surrogates as escapes; those bodies are invalid JSON to
    # the gateway too, which is a case worth sending.
    return json.dumps(value).encode("utf-8", "surrogatepass")


def mutated(base: Callable[[], dict[str, Any]], paths: list[tuple[Any, ...]]) -> st.SearchStrategy[bytes]:
    one = st.tuples(st.sampled_from(paths), any_value, st.booleans())
    return st.lists(one, min_size=1, max_size=3).map(
        lambda changes: encode(_apply(base(), changes)))


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
        json_values.map(encode),
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
