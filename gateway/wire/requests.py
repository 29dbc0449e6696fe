"""Validation of incoming request bodies, with OpenAI's wording of what is wrong and where."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MESSAGES = 10_000
MAX_MODEL_CHARS = 256  # the longest real model names (paths of local models) are far shorter
MAX_DEPTH = 254  # what orjson can write back: a canonical key of anything deeper could not be computed
# Integers orjson reads exactly; beyond them it reads a float, so two requests differing there would share a key.
INT_RANGE = (-(1 << 63), (1 << 64) - 1)
_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # where an integer may lie outside INT_RANGE, checked exactly


class InvalidRequest(Exception):
    """A client error (HTTP 400 unless `status` says otherwise), reported in OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


class _Inexact(ValueError):
    """An integer orjson would read as a float."""


def _exact_int(text: str) -> int:
    # Length first: int() of thousands of digits raises (or costs quadratic time) before any range check.
    if len(text) > 21 or not INT_RANGE[0] <= (number := int(text)) <= INT_RANGE[1]:
        raise _Inexact(f"The JSON body has an integer outside the 64-bit range ({text[:24]}...).")
    return number


# Reads integers exactly (the C scanner calls the hook only for integers), when some run of digits is long enough.
_CHECK_INTS = json.JSONDecoder(parse_int=_exact_int)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, read one way only: no integer beyond 64 bits (orjson would read a float, so two
    requests differing there would share a key), no nesting deeper than MAX_DEPTH, each a 400 in OpenAI's shape.
    A key given twice in one object is read as its last value; what goes upstream is the body as read
    (`forwardable`), so the upstream never reads another value than the cache keyed."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request. The body must be valid JSON.",
                             code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        orjson.dumps(body)  # C speed; it refuses only what is nested deeper than it can write
    except orjson.JSONEncodeError:
        raise InvalidRequest(f"The request is nested deeper than {MAX_DEPTH} levels.",
                             code="too_deeply_nested") from None
    if _LONG_DIGITS.search(raw):
        try:
            _CHECK_INTS.decode(raw.decode("utf-8"))  # within MAX_DEPTH: well inside Python's recursion limit
        except _Inexact as error:
            raise InvalidRequest(str(error), code="inexact_number") from None
    return body


def forwardable(body: dict[str, Any]) -> bytes:
    """The body as the cache read it, for the upstream: a body with a key given twice in one object, sent raw,
    could be read with the first value upstream while the cache keyed the last, and on a shared route that
    answer would then be served to everyone asking the other question."""
    return orjson.dumps(body)


def _expect(condition: bool, message: str, param: str) -> None:
    if not condition:
        raise InvalidRequest(message, param=param, code="invalid_type")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    _expect(isinstance(message, dict), f"Invalid type for '{where}': expected an object.", where)
    role = message.get("role")
    _expect(isinstance(role, str) and role in ROLES,
            f"Invalid value for '{where}.role': expected one of {', '.join(sorted(ROLES))}.", f"{where}.role")
    content = message.get("content")
    _expect(content is None or isinstance(content, (str, list)),
            f"Invalid type for '{where}.content': expected a string or an array of content parts.",
            f"{where}.content")
    if isinstance(content, list):
        for part_index, part in enumerate(content):
            _expect(isinstance(part, dict) and isinstance(part.get("type"), str),
                    f"Invalid content part '{where}.content[{part_index}]': expected an object with a type.",
                    f"{where}.content[{part_index}]")


def validate_chat(body: dict[str, Any]) -> None:
    """Reject what OpenAI would reject before it reaches the cache or the upstream."""
    if "messages" not in body:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages",
                             code="missing_required_parameter")
    messages = body["messages"]
    _expect(isinstance(messages, list), "Invalid type for 'messages': expected an array.", "messages")
    _expect(len(messages) > 0, "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            "messages")
    _expect(len(messages) <= MAX_MESSAGES, f"Invalid 'messages': at most {MAX_MESSAGES} are accepted.",
            "messages")
    for index, message in enumerate(messages):
        _check_message(index, message)
    if "model" in body:
        _check_model(body["model"])
    _expect(isinstance(body.get("stream", False), bool) or body.get("stream") is None,
            "Invalid type for 'stream': expected a boolean.", "stream")
    choices = body.get("n")
    _expect(choices is None or (_is_int(choices) and choices >= 1),
            "Invalid value for 'n': expected an integer >= 1.", "n")
    _expect(body.get("tools") is None or isinstance(body["tools"], list),
            "Invalid type for 'tools': expected an array.", "tools")
    for name in ("stream_options", "response_format", "metadata"):
        _expect(body.get(name) is None or isinstance(body[name], dict),
                f"Invalid type for '{name}': expected an object.", name)
    modalities = body.get("modalities")
    _expect(modalities is None or (isinstance(modalities, list) and all(isinstance(m, str) for m in modalities)),
            "Invalid type for 'modalities': expected an array of strings.", "modalities")
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = body.get(name)
        _expect(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)),
                f"Invalid type for '{name}': expected a number.", name)


def _check_model(model: Any) -> None:
    _expect(isinstance(model, str) and model.strip() != "", "Invalid type for 'model': expected a non-empty string.",
            "model")
    _expect(len(model) <= MAX_MODEL_CHARS, f"Invalid 'model': at most {MAX_MODEL_CHARS} characters.", "model")


def validate_embeddings(body: dict[str, Any]) -> None:
    if "input" not in body:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                             code="missing_required_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model",
                             code="missing_required_parameter")
    _check_model(body["model"])
    value = body["input"]
    _expect(isinstance(value, (str, list)), "Invalid type for 'input': expected a string or an array.", "input")
    dimensions = body.get("dimensions")
    _expect(dimensions is None or (_is_int(dimensions) and dimensions >= 1),
            "Invalid value for 'dimensions': expected an integer >= 1.", "dimensions")
    _expect(body.get("encoding_format") in (None, "float", "base64"),
            "Invalid value for 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
