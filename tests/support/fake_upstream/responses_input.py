"""How the fake reads a Responses API request: the 400s OpenAI gives for a bad one (no model, an input that is
neither a string nor a list of items, an item of an unknown type, a tool output that answers no call, ...), and the
items of the conversation it asks about, its text and its turns."""

from __future__ import annotations

from typing import Any

from tests.support.fake_upstream.chat import words
from tests.support.fake_upstream.shapes import openai_error

ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
ROLES = ("user", "assistant", "system", "developer")
# What each item type cannot do without (besides its `type`).
REQUIRED = {
    "message": ("role", "content"),
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id", "output"),
    "item_reference": ("id",),
}
_STRINGS = ("call_id", "name", "arguments", "id")
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), "object")


def _missing(param: str) -> dict[str, Any]:
    return openai_error(f"Missing required parameter: '{param}'.", "invalid_request_error", param,
                        "missing_required_parameter")


def _wrong_type(param: str, expected: str, value: Any) -> dict[str, Any]:
    return openai_error(f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
                        "invalid_request_error", param, "invalid_type")


def _wrong_value(param: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    listed = ", ".join(f"'{a}'" for a in allowed)
    return openai_error(f"Invalid value: '{value}'. Supported values are: {listed}.", "invalid_request_error", param,
                        "invalid_value")


def input_items(raw: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's `input` as typed items: a string is one user message, an item without a type a message."""
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return [item if "type" in item else {"type": "message", **item} for item in raw]


def validate_request(request: Any) -> dict[str, Any] | None:
    """OpenAI's error body for a request it would refuse with a 400 before reading any stored response."""
    if not isinstance(request, dict):
        return openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    if not isinstance(request.get("model"), str) or not request["model"]:
        return _missing("model")
    if "input" not in request:
        return _missing("input")
    raw = request["input"]
    if not isinstance(raw, str | list):
        return _wrong_type("input", "one of a string or array of input items", raw)
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        error = _item_error(f"input[{index}]", item)
        if error is not None:
            return error
    previous = request.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        return _wrong_type("previous_response_id", "a string", previous)
    return _tools_error(request) or _limits_error(request) or _format_error(request)


def _item_error(where: str, item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return _wrong_type(where, "an input item object", item)
    kind = item.get("type", "message")
    if kind not in ITEM_TYPES:
        return _wrong_value(f"{where}.type", kind, ITEM_TYPES)
    for field in REQUIRED.get(kind, ()):
        if field not in item:
            return _missing(f"{where}.{field}")
        if field in _STRINGS and not isinstance(item[field], str):
            return _wrong_type(f"{where}.{field}", "a string", item[field])
    if kind == "message" and item["role"] not in ROLES:
        return _wrong_value(f"{where}.role", item["role"], ROLES)
    if kind == "message" and not isinstance(item["content"], str | list):
        return _wrong_type(f"{where}.content", "one of a string or array of content parts", item["content"])
    return None


def _tools_error(request: dict[str, Any]) -> dict[str, Any] | None:
    tools = request.get("tools") or []
    if not isinstance(tools, list):
        return _wrong_type("tools", "an array", tools)
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or "type" not in tool:
            return _missing(f"tools[{index}].type")
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            return _missing(f"tools[{index}].name")
    choice = request.get("tool_choice")
    named = [t["name"] for t in tools if t["type"] == "function"]
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name") not in named:
        return openai_error(f"Tool choice '{choice.get('name')}' not found in 'tools' parameter.",
                            "invalid_request_error", "tool_choice", None)
    return None


def _limits_error(request: dict[str, Any]) -> dict[str, Any] | None:
    limit = request.get("max_output_tokens")
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool):
        return _wrong_type("max_output_tokens", "an integer", limit)
    if limit < 16:
        return openai_error(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {limit} "
            "instead.", "invalid_request_error", "max_output_tokens", "integer_below_min_value")
    return None


def _format_error(request: dict[str, Any]) -> dict[str, Any] | None:
    text = request.get("text") or {}
    if not isinstance(text, dict):
        return _wrong_type("text", "an object", text)
    form = text.get("format") or {}
    if not isinstance(form, dict):
        return _wrong_type("text.format", "an object", form)
    if form.get("type") == "json_schema":
        for field in ("name", "schema"):
            if field not in form:
                return _missing(f"text.format.{field}")
        if not isinstance(form["schema"], dict):
            return _wrong_type("text.format.schema", "an object", form["schema"])
    return None


def conversation_error(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenAI's 400 for a tool output whose call is nowhere in the conversation (stored turns included)."""
    calls = {item.get("call_id") for item in items if item["type"] == "function_call"}
    for item in items:
        if item["type"] == "function_call_output" and item["call_id"] not in calls:
            return openai_error(f"No tool call found for function call output with call_id {item['call_id']}.",
                                "invalid_request_error", "input", None)
    return None


def item_text(item: dict[str, Any]) -> str:
    """What an item says: a message's text, a call's arguments, a tool's output."""
    value = {"message": "content", "function_call": "arguments", "function_call_output": "output"}.get(item["type"])
    content = item.get(value) if value else None
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else ""


def last_user_text(items: list[dict[str, Any]]) -> str:
    users = [item for item in items if item["type"] == "message" and item.get("role") == "user"]
    return item_text(users[-1]) if users else ""


def user_turns(items: list[dict[str, Any]]) -> int:
    return sum(1 for item in items if item["type"] == "message" and item.get("role") == "user")


def input_tokens(request: dict[str, Any], items: list[dict[str, Any]]) -> int:
    instructions = request.get("instructions")
    return words(instructions if isinstance(instructions, str) else "") + sum(words(item_text(i)) for i in items)
