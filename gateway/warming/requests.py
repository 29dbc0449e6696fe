"""One line of a warming file, read as the request it stands for: a chat completion (`messages`), a Responses API
request (`input`), or a plain prompt (`prompt`, with `model`), each with an optional `route`. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.wire.controls import parse_route

PROMPT_FIELDS = frozenset({"prompt", "model", "route"})


@dataclass(frozen=True)
class WarmRequest:
    path: str  # relative to the gateway's `/v1`
    body: bytes
    model: str
    route: str | None  # sent as `x-route`

    @property
    def headers(self) -> list[tuple[str, str]]:
        head = [("content-type", "application/json")]
        return head + ([("x-route", self.route)] if self.route else [])


def read_warm_line(line: bytes, *, default_model: str) -> WarmRequest:
    """Raises ValueError saying what is wrong with the line."""
    try:
        request = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError("not a JSON object") from None
    if not isinstance(request, dict):
        raise ValueError("not a JSON object")
    route = _route(request.pop("route", None))
    if "prompt" in request:
        return _prompt(request, route, default_model)
    # Warming stores whole answers; a stream's is replayed from them too, so nothing is asked as a stream.
    request.pop("stream", None)
    request.pop("stream_options", None)
    model = request.setdefault("model", default_model)
    if not isinstance(model, str) or not model:
        raise ValueError("'model' must be a model name")
    if "messages" in request:
        return WarmRequest("/chat/completions", orjson.dumps(request), model, route)
    if "input" in request:
        return WarmRequest("/responses", orjson.dumps(request), model, route)
    raise ValueError("expected 'messages' (chat), 'input' (Responses API) or 'prompt'")


def _route(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("'route' must be a string")
    try:
        return parse_route(value, "route", "route", "invalid_route")
    except InvalidRequest as error:
        raise ValueError(str(error)) from None


def _prompt(request: dict[str, Any], route: str | None, default_model: str) -> WarmRequest:
    prompt, model = request["prompt"], request.get("model", default_model)
    if set(request) - PROMPT_FIELDS:
        raise ValueError(f"a plain prompt takes only {', '.join(sorted(PROMPT_FIELDS))}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' must be a non-empty string")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' must be a model name")
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    return WarmRequest("/chat/completions", orjson.dumps(body), model, route)
