"""Validation of incoming request bodies, with OpenAI's wording of what is wrong and where."""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MESSAGES = 10_000
MAX_MODEL_CHARS = 256  # the longest real model names (paths of local models) are far shorter


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
        check_model(body["model"])
    _check_sampling(body, objects=("stream_options", "response_format", "metadata"))
    _expect(body.get("tools") is None or isinstance(body["tools"], list),
            "Invalid type for 'tools': expected an array.", "tools")
    modalities = body.get("modalities")
    _expect(modalities is None or (isinstance(modalities, list) and all(isinstance(m, str) for m in modalities)),
            "Invalid type for 'modalities': expected an array of strings.", "modalities")


def _check_sampling(body: dict[str, Any], *, objects: tuple[str, ...]) -> None:
    """What chat and legacy completions share and the cache reads: the stream flag, how many choices, `objects`
    and the sampling numbers. A string the upstream might read as a boolean or a number must not pass, or the
    gateway would key and relay a request other than the one the upstream answers."""
    _expect(isinstance(body.get("stream", False), bool) or body.get("stream") is None,
            "Invalid type for 'stream': expected a boolean.", "stream")
    choices = body.get("n")
    _expect(choices is None or (_is_int(choices) and choices >= 1),
            "Invalid value for 'n': expected an integer >= 1.", "n")
    for name in objects:
        _expect(body.get(name) is None or isinstance(body[name], dict),
                f"Invalid type for '{name}': expected an object.", name)
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = body.get(name)
        _expect(value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)),
                f"Invalid type for '{name}': expected a number.", name)


def validate_text_completion(body: dict[str, Any]) -> None:
    """A legacy completions request: a model and a prompt (a string, or an array the upstream reads: of strings,
    of tokens or of token arrays), and the fields that decide how the cache serves it, each of its type."""
    for name in ("model", "prompt"):
        if body.get(name) is None:
            raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name,
                                 code="missing_required_parameter")
    check_model(body["model"])
    prompt = body["prompt"]
    _expect(isinstance(prompt, str) or (isinstance(prompt, list) and len(prompt) > 0),
            "Invalid type for 'prompt': expected a string or a non-empty array of strings, of tokens or of token "
            "arrays.", "prompt")
    _check_sampling(body, objects=("stream_options", "metadata", "logit_bias"))
    best_of = body.get("best_of")
    _expect(best_of is None or (_is_int(best_of) and best_of >= 1),
            "Invalid value for 'best_of': expected an integer >= 1.", "best_of")
    _expect(body.get("echo") is None or isinstance(body["echo"], bool),
            "Invalid type for 'echo': expected a boolean.", "echo")
    logprobs = body.get("logprobs")
    _expect(logprobs is None or (_is_int(logprobs) and logprobs >= 0),
            "Invalid value for 'logprobs': expected an integer >= 0.", "logprobs")


def check_model(model: Any) -> None:
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
    check_model(body["model"])
    value = body["input"]
    _expect(isinstance(value, (str, list)), "Invalid type for 'input': expected a string or an array.", "input")
    dimensions = body.get("dimensions")
    _expect(dimensions is None or (_is_int(dimensions) and dimensions >= 1),
            "Invalid value for 'dimensions': expected an integer >= 1.", "dimensions")
    _expect(body.get("encoding_format") in (None, "float", "base64"),
            "Invalid value for 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
