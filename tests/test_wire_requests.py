"""Request validation and cache-control headers, on tables of good and bad inputs."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from gateway.store.redis_store import tag_filter
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.requests import InvalidRequest, parse_json_object, validate_chat, validate_embeddings

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
])
def test_cache_control_headers(headers: dict, expected: Controls) -> None:
    assert parse_controls(Headers(headers)) == expected


@pytest.mark.parametrize("headers", [
    {"x-cache-ttl": "-5"}, {"x-cache-ttl": "0"}, {"x-cache-ttl": "1.5"}, {"x-cache-ttl": "abc"},
    {"x-cache-threshold": "abc"}, {"x-cache-threshold": "-0.1"}, {"x-cache-threshold": "nan"},
    {"x-cache-threshold": "3"}, {"x-route": "has space"}, {"x-route": "x" * 65}, {"x-route": "a,b"},
])
def test_bad_cache_control_headers_are_400(headers: dict) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_controls(Headers(headers))
    assert caught.value.status == 400 and caught.value.param in headers


def test_tag_values_travel_as_query_parameters() -> None:
    query, params = tag_filter({"model": "ft:gpt-4o:org:1", "route": "_"})
    assert query == "(@model:{$model} @route:{$route})"
    assert params == ["model", "ft:gpt-4o:org:1", "route", "_"]
    assert tag_filter({}) == ("*", [])
