"""Model lists of several upstreams: read in OpenAI's or Anthropic's shape, and their union."""

from __future__ import annotations

import orjson
import pytest

from gateway.wire.model_lists import models_in, union

OPENAI = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}]}
ANTHROPIC = {"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                       "created_at": "2025-09-29T00:00:00Z"}], "has_more": False}


def test_both_shapes_are_read_as_openai_model_objects() -> None:
    assert models_in(orjson.dumps(OPENAI), owner="x") == OPENAI["data"]
    assert models_in(orjson.dumps(ANTHROPIC), owner="claude") == [
        {"id": "claude-sonnet-4-5", "object": "model", "created": 0, "owned_by": "claude"}]


@pytest.mark.parametrize("body", [b"", b"[", b"[]", b'{"data": 3}', b'{"data": [1, {"name": "x"}, {"id": 5}]}'])
def test_anything_else_lists_nothing(body: bytes) -> None:
    assert models_in(body, owner="x") == []


def test_the_union_lists_each_model_once_first_come_first() -> None:
    first = [{"id": "a", "owned_by": "one"}, {"id": "b", "owned_by": "one"}]
    listed = union([first, [{"id": "b", "owned_by": "two"}, {"id": "c", "owned_by": "two"}]])
    assert listed == {"object": "list", "data": [*first, {"id": "c", "owned_by": "two"}]}
