"""A request body read as JSON one way only, so that what the cache keys is what the upstream answers.

- Shape first, at C speed, before any parser builds it: at most MAX_DEPTH levels and MAX_CONTAINERS arrays and
  objects. orjson corrupts its heap writing a few MB nested ~250 deep (abort: the worker dies), and parsing
  millions of empty arrays would hold the event loop for most of a second.
- Integers orjson reads exactly only within 64 bits; beyond, it reads a float, and two requests differing there
  would share a key: refused.
- A key given twice in one object is read as its last value, and `forwardable` sends upstream the body as read:
  sent raw, an upstream could keep the first value while the cache keyed the last, and on a shared route that
  answer would be served to everyone asking the other question."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import orjson

from gateway.errors import InvalidRequest

MAX_DEPTH = 64  # nested arrays and objects; real requests (JSON schemas included) stay far below
MAX_CONTAINERS = 100_000  # arrays and objects in one body; 10,000 messages with their parts fit
INT_RANGE = (-(1 << 63), (1 << 64) - 1)
_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # where an integer may lie outside INT_RANGE, checked exactly
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)


def shape(raw: bytes) -> tuple[int, int]:
    """(arrays and objects, their deepest nesting) of JSON text, counted from its brackets outside strings;
    meaningful for valid JSON only (anything else is refused by the parser anyway)."""
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escapes pair left to right: no quote stays escaped
    brackets = b"".join(plain.translate(None, _NOT_STRUCTURE).split(b'"')[::2])  # even pieces: outside strings
    if not brackets:
        return 0, 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    opening = np.isin(codes, _OPENING)
    return int(opening.sum()), int(np.cumsum(np.where(opening, 1, -1)).max())


def _exact_int(text: str) -> int:
    """An integer as written; a 400 for one orjson would read as a float (the decoder passes the error on)."""
    # Length first: int() of thousands of digits raises (or costs quadratic time) before any range check.
    if len(text) > 21 or not INT_RANGE[0] <= (number := int(text)) <= INT_RANGE[1]:
        raise InvalidRequest(f"The JSON body has an integer outside the 64-bit range ({text[:24]}...).",
                             code="inexact_number")
    return number


# Reads integers exactly (the C scanner calls the hook only for integers), when some run of digits is long enough.
_CHECK_INTS = json.JSONDecoder(parse_int=_exact_int)


def _check_shape(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # too few brackets to be too deep or too many: the common case, at no cost
    containers, depth = shape(raw)
    if depth > MAX_DEPTH:
        raise InvalidRequest(f"The request is nested deeper than {MAX_DEPTH} levels.", code="too_deeply_nested")
    if containers > MAX_CONTAINERS:
        raise InvalidRequest(f"The request has more than {MAX_CONTAINERS} arrays and objects.",
                             code="too_many_values")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 in OpenAI's shape."""
    body = _parse(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def parse_json_array(raw: bytes) -> list[Any]:
    """The body as a JSON array, or a 400 in OpenAI's shape."""
    body = _parse(raw)
    if not isinstance(body, list):
        raise InvalidRequest("The request body must be a JSON array.", code="invalid_json")
    return body


def _parse(raw: bytes) -> Any:
    _check_shape(raw)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request. The body must be valid JSON.",
                             code="invalid_json") from None
    if _LONG_DIGITS.search(raw):
        _CHECK_INTS.decode(raw.decode("utf-8"))  # within MAX_DEPTH: well inside Python's recursion limit
    return body


def forwardable(body: dict[str, Any]) -> bytes:
    """The body as the cache read it, for the upstream."""
    return orjson.dumps(body)
