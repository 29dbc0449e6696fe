"""Validation of Anthropic Messages request bodies, in Anthropic's wording of what is wrong and where
(`messages.0.role: ...`): what the API would refuse anyway, refused before it reaches the cache or the upstream."""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest
from gateway.wire.requests import MAX_MESSAGES, MAX_MODEL_CHARS

ROLES = ("user", "assistant")
_OBJECTS = ("metadata", "tool_choice", "thinking")


def _expect(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise InvalidRequest(f"{where}: {message}", param=where, code="invalid_request_error")


def _required(body: dict[str, Any], name: str) -> Any:
    _expect(body.get(name) is not None, name, "Field required")
    return body[name]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_blocks(where: str, content: Any, *, text_only: bool = False) -> None:
    """A string, or a list of content blocks (objects with a type; only text blocks with their text where
    `text_only`)."""
    if isinstance(content, str):
        return
    _expect(isinstance(content, list), where, "Input should be a valid string or a list of content blocks")
    for index, block in enumerate(content):
        _expect(isinstance(block, dict) and isinstance(block.get("type"), str), f"{where}.{index}",
                "Input should be an object with a type")
        if text_only:
            _expect(block["type"] == "text" and isinstance(block.get("text"), str), f"{where}.{index}",
                    "Input should be a text block")


def _check_message(index: int, message: Any) -> None:
    where = f"messages.{index}"
    _expect(isinstance(message, dict), where, "Input should be an object")
    _expect(message.get("role") in ROLES, f"{where}.role", "Input should be 'user' or 'assistant'")
    _expect(message.get("content") is not None, f"{where}.content", "Field required")
    _check_blocks(f"{where}.content", message["content"])


def validate_messages(body: dict[str, Any]) -> None:
    """Raises InvalidRequest for a body Anthropic would refuse in a way the cache reads."""
    model = _required(body, "model")
    _expect(isinstance(model, str) and model.strip() != "", "model", "Input should be a non-empty string")
    _expect(len(model) <= MAX_MODEL_CHARS, "model", f"String should have at most {MAX_MODEL_CHARS} characters")
    max_tokens = _required(body, "max_tokens")
    _expect(_is_int(max_tokens) and max_tokens >= 1, "max_tokens", "Input should be an integer of at least 1")
    messages = _required(body, "messages")
    _expect(isinstance(messages, list), "messages", "Input should be a valid list")
    _expect(0 < len(messages) <= MAX_MESSAGES, "messages", f"List should have 1 to {MAX_MESSAGES} items")
    for index, message in enumerate(messages):
        _check_message(index, message)
    if body.get("system") is not None:
        _check_blocks("system", body["system"], text_only=True)
    _expect(body.get("stream") is None or isinstance(body["stream"], bool), "stream", "Input should be a valid boolean")
    tools = body.get("tools")
    _expect(tools is None or (isinstance(tools, list) and all(isinstance(tool, dict) for tool in tools)), "tools",
            "Input should be a valid list of objects")
    for name in _OBJECTS:
        _expect(body.get(name) is None or isinstance(body[name], dict), name, "Input should be a valid object")
    stops = body.get("stop_sequences")
    _expect(stops is None or (isinstance(stops, list) and all(isinstance(stop, str) for stop in stops)),
            "stop_sequences", "Input should be a valid list of strings")
    for name in ("temperature", "top_p"):
        _expect(body.get(name) is None or _is_number(body[name]), name, "Input should be a valid number")
    _expect(body.get("top_k") is None or _is_int(body["top_k"]), "top_k", "Input should be a valid integer")
