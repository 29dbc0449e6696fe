"""Request validation and cache-control headers, on tables of good and bad inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from starlette.datastructures import Headers

from gateway.errors import InvalidRequest
from gateway.store.redis.query_engine import tag_filter
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.json_body import forwardable, parse_json_object, shape
from gateway.wire.requests import validate_chat, validate_embeddings

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_json_objects_are_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_object(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": "hi"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": [5]}]}, "messages[0].content[0]"),
    ({"model": 5, "messages": OK["messages"]}, "model"),
    ({"model": "", "messages": OK["messages"]}, "model"),
    ({**OK, "stream": "yes"}, "stream"),
    ({**OK, "n": 0}, "n"),
    ({**OK, "n": True}, "n"),
    ({**OK, "tools": {}}, "tools"),
    ({**OK, "stream_options": []}, "stream_options"),
    ({**OK, "temperature": "hot"}, "temperature"),
])
def test_invalid_chat_requests_name_the_parameter(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_chat(body)
    assert caught.value.param == param and caught.value.status == 400


@pytest.mark.parametrize("body", [OK, {"messages": OK["messages"]}, {**OK, "stream": True, "n": 1},
                                  {**OK, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}])
def test_valid_chat_requests_pass(body: dict) -> None:
    validate_chat(body)


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m"}, "input"), ({"input": "x"}, "model"), ({"model": "m", "input": 3}, "input"),
    ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "m", "input": "x", "encoding_format": "hex"}, "encoding_format"),
])
def test_invalid_embeddings_requests(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_embeddings(body)
    assert caught.value.param == param


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, Controls()),
    ({"X-Route": "support"}, Controls(route="support")),
    ({"cache-control": "no-cache"}, Controls(lookup=False)),
    ({"Cache-Control": "No-Store, max-age=0"}, Controls(store=False)),
    ({"cache-control": "no-cache, no-store"}, Controls(lookup=False, store=False)),
    ({"x-cache-ttl": "60"}, Controls(ttl_secs=60)),
    ({"x-cache-threshold": "0.05"}, Controls(threshold=0.05)),
    ({"x-cache-threshold": "0"}, Controls(threshold=0.0)),
    ({"x-cache-threshold": ".5"}, Controls(threshold=0.5)),
    ({"x-cache-threshold": "2."}, Controls(threshold=2.0)),
    ({"x-cache-ttl": str(10 * 365 * 86400)}, Controls(ttl_secs=10 * 365 * 86400)),
    ({"x-cache-origin": "warming"}, Controls(warming=True)),
    ({"X-Cache-Origin": " Warming "}, Controls(warming=True)),
])
def test_cache_control_headers(headers: dict, expected: Controls) -> None:
    assert parse_controls(Headers(headers)) == expected


@pytest.mark.parametrize("headers", [
    {"x-cache-ttl": "-5"}, {"x-cache-ttl": "0"}, {"x-cache-ttl": "1.5"}, {"x-cache-ttl": "abc"},
    {"x-cache-threshold": "abc"}, {"x-cache-threshold": "-0.1"}, {"x-cache-threshold": "nan"},
    {"x-cache-threshold": "3"}, {"x-route": "has space"}, {"x-route": "x" * 65}, {"x-route": "a,b"},
    # numbers only in ASCII digits, and only so many of them: int()/float() read all of these, or raise
    {"x-cache-ttl": "9" * 5000}, {"x-cache-ttl": "\xb2"}, {"x-cache-ttl": "1\xb9"}, {"x-cache-ttl": "1_000"},
    {"x-cache-ttl": "0" * 30 + "60"}, {"x-cache-threshold": "0" * 5000}, {"x-cache-threshold": "\xb2"},
    {"x-cache-threshold": "1_0"}, {"x-cache-threshold": "inf"}, {"x-cache-threshold": "1e-3"},
    {"x-cache-threshold": "0." + "1" * 5000}, {"x-cache-threshold": "+1"},
    # only a warming run says what wrote an answer: a client cannot pass its writes off as a refresh or a prefetch
    {"x-cache-origin": "refresh"}, {"x-cache-origin": "prefetch"}, {"x-cache-origin": ""},
    {"x-cache-origin": "warming" * 1000},
])
def test_bad_cache_control_headers_are_400(headers: dict) -> None:
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
    with pytest.raises(InvalidRequest) as caught:
        parse_controls(Headers(raw=raw))
    assert caught.value.status == 400 and caught.value.param in headers


@pytest.mark.parametrize(("raw", "code"), [
    (b'{"seed": 18446744073709551616}', "inexact_number"),
    (b'{"seed": -9223372036854775809}', "inexact_number"),
    (b'{"seed": 1' + b"0" * 5000 + b"}", "invalid_json"),  # orjson: a float of infinity
    (b'{"seed": [1' + b"0" * 24 + b"]}", "inexact_number"),
    (b'{"a": [' + b"1" * 4500 + b"]}", "invalid_json"),
    (b'{"metadata": ' + b"[" * 64 + b"]" * 64 + b"}", "too_deeply_nested"),  # 65 levels with the body's own
    (b'{"metadata": ' + b'{"a":' * 64 + b"1" + b"}" * 64 + b"}", "too_deeply_nested"),
    (b'{"metadata": ' + b"[" * 2000 + b"]" * 2000 + b"}", "too_deeply_nested"),
    (b'{"x": [' + b",".join([b"[]"] * 100_001) + b"]}", "too_many_values"),
    (b'{"a": NaN}', "invalid_json"), (b'{"a": Infinity}', "invalid_json"), (b'{"a": "\\ud800"}', "invalid_json"),
])
def test_bodies_two_parsers_could_read_differently_are_400(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_object(raw)
    assert caught.value.status == 400 and caught.value.code == code


@pytest.mark.parametrize("raw", [
    b'{"seed": 18446744073709551615}', b'{"seed": -9223372036854775808}', b'{"a": "12345678901234567890123"}',
    b'{"a": 1.2345678901234567890123}', b'{"a": 12345678901234567890.5}', b'{"a": {"k": 1}, "b": {"k": 1}}',
    b'{"metadata": ' + b"[" * 63 + b"]" * 63 + b"}",
    b'{"a": "' + b"[" * 500 + b'", "b": "\\\\", "c": "\\"[[[["}',  # brackets in strings, escaped quotes
    b'{"x": [' + b",".join([b"[]"] * 99_990) + b"]}",
])
def test_unambiguous_bodies_are_read(raw: bytes) -> None:
    assert isinstance(parse_json_object(raw), dict)


@pytest.mark.parametrize(("raw", "read"), [
    (b'{"model": "m", "model": "other"}', {"model": "other"}),
    (b'{"messages": [{"role": "user", "content": "a", "content": "b"}]}',
     {"messages": [{"role": "user", "content": "b"}]}),
    (b'{"metadata": {"k": 1, "k": 2}, "k": 3}', {"metadata": {"k": 2}, "k": 3}),
])
def test_a_key_given_twice_is_read_and_forwarded_as_its_last_value(raw: bytes, read: dict) -> None:
    body = parse_json_object(raw)
    assert body == read and orjson.loads(forwardable(body)) == read and forwardable(body).count(b'"k"') <= 2


@pytest.mark.parametrize(("text", "expected"), [
    (b"{}", (1, 1)), (b'{"a": [1, {"b": []}]}', (4, 4)), (b'{"a": "[[{{"}', (1, 1)),
    (b'{"a": "\\"[", "b": ["\\\\"]}', (2, 2)), (b"[" * 10 + b"]" * 10, (10, 10)), (b'"x"', (0, 0)),
])
def test_the_shape_of_a_body_counts_brackets_outside_strings_only(text: bytes, expected: tuple[int, int]) -> None:
    assert shape(text) == expected


def test_a_body_that_crashed_orjson_when_written_back_is_refused_unread() -> None:
    """orjson corrupts its heap (the process aborts) writing back ~4 MB nested ~250 deep: such a body must be
    refused before anything reads it. In a child process, so that a regression fails this test, not the run."""
    script = ("from gateway.wire.json_body import parse_json_object\n"
              "from gateway.errors import InvalidRequest\n"
              "raw = b'{\"model\": \"m\", \"messages\": [], \"x\": [' + b','.join([b'[' * 250 + b']' * 250] * 8300)"
              " + b']}'\n"
              "try:\n    parse_json_object(raw)\nexcept InvalidRequest as error:\n    print(error.code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip() == "too_deeply_nested", done.stderr[-500:]


def test_model_names_are_bounded() -> None:
    validate_chat({**OK, "model": "m" * 256})
    for validate, body in ((validate_chat, OK), (validate_embeddings, {"input": "x"})):
        with pytest.raises(InvalidRequest) as caught:
            validate({**body, "model": "m" * 257})
        assert caught.value.param == "model"


def test_tag_values_travel_as_query_parameters() -> None:
    query, params = tag_filter({"model": "ft:gpt-4o:org:1", "route": "_"})
    assert query == "(@model:{$model} @route:{$route})"
    assert params == ["model", "ft:gpt-4o:org:1", "route", "_"]
    assert tag_filter({}) == ("*", [])
