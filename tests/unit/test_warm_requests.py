"""A warming file's lines, read as the requests they stand for, on tables: each kind, the route, what is never
asked for (a stream), and a bad line refused with what is wrong."""

from __future__ import annotations

import orjson
import pytest

from gateway.warming.requests import read_warm_line, read_warm_lines, warm_route


@pytest.mark.parametrize(("line", "path", "body", "route"), [
    ({"prompt": "Hi?", "model": "m", "route": "faq"}, "/chat/completions",
     {"model": "m", "messages": [{"role": "user", "content": "Hi?"}]}, "faq"),
    ({"prompt": "Hi?"}, "/chat/completions", {"model": "dflt", "messages": [{"role": "user", "content": "Hi?"}]},
     None),
    ({"model": "m", "messages": [{"role": "user", "content": "Hi?"}], "stream": True,
      "stream_options": {"include_usage": True}, "temperature": 0},
     "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "Hi?"}], "temperature": 0}, None),
    ({"input": "Hi?", "route": "docs", "stream": True}, "/responses", {"input": "Hi?", "model": "dflt"}, "docs"),
])
def test_each_kind_of_line(line: dict, path: str, body: dict, route: str | None) -> None:
    request = read_warm_line(orjson.dumps(line), default_model="dflt")
    assert (request.path, orjson.loads(request.body), request.route) == (path, body, route)
    assert ("x-route", route) in request.headers if route else len(request.headers) == 1


@pytest.mark.parametrize(("line", "problem"), [
    (b"not json", "JSON object"), (b"[1]", "JSON object"), (b'{"model": "m"}', "expected"),
    (b'{"prompt": ""}', "non-empty"), (b'{"prompt": 5}', "non-empty"), (b'{"prompt": "a", "n": 2}', "takes only"),
    (b'{"prompt": "a", "model": 5}', "model"), (b'{"messages": [], "model": ""}', "model"),
    (b'{"prompt": "a", "route": "a b"}', "route"), (b'{"prompt": "a", "route": 1}', "route"),
])
def test_a_bad_line_says_what_is_wrong(line: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        read_warm_line(line, default_model="dflt")


def test_a_default_route_for_lines_that_name_none() -> None:
    lines = [b'{"prompt": "a"}', b'{"prompt": "b", "route": "docs"}']
    requests, problems = read_warm_lines(lines, default_model="dflt", default_route="faq")
    assert [request.route for request in requests] == ["faq", "docs"] and problems == []


def test_every_bad_line_is_numbered_and_blank_lines_count() -> None:
    deep = b'{"prompt": "a", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    requests, problems = read_warm_lines([b'{"prompt": "a"}', b"", b"not json", b"  ", deep], default_model="m")
    assert len(requests) == 1
    assert [number for number, _ in problems] == [3, 5] and "nested deeper" in problems[1][1]


@pytest.mark.parametrize(("value", "route"), [(None, None), ("faq", "faq"), ("support/eu-1", "support/eu-1")])
def test_a_route_option(value: str | None, route: str | None) -> None:
    assert warm_route(value) == route


@pytest.mark.parametrize("value", ["a b", "x" * 65, 5])
def test_a_bad_route_option(value: object) -> None:
    with pytest.raises(ValueError, match="route"):
        warm_route(value)
