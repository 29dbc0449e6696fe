"""One line of a warming file, read as the request it stands for: a chat completion (`messages`), a Responses API
request (`input`), or a plain prompt (`prompt`, with `model`), each with an optional `route`. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.wire.controls import parse_route
from gateway.wire.json_body import parse_json_object

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


Problems = list[tuple[int, str]]  # bad lines: each one's number (from 1) and what is wrong with it


def read_warm_lines(lines: Sequence[bytes], *, default_model: str, default_route: str | None = None
                    ) -> tuple[list[WarmRequest], Problems]:
    """Every line's request (blank lines skipped), and every bad line: a file with any is not to be sent at all."""
    requests, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            requests.append(read_warm_line(line, default_model=default_model, default_route=default_route))
        except ValueError as error:
            problems.append((number, str(error)))
    return requests, problems


def read_warm_line(line: bytes, *, default_model: str, default_route: str | None = None) -> WarmRequest:
    """Raises ValueError saying what is wrong with the line; `default_route` is the route of a line naming none."""
    try:  # the request bodies' own parser: its bounds on nesting and numbers hold for a warming line too
        request = parse_json_object(line)
    except InvalidRequest as error:
        raise ValueError("not a JSON object" if error.code == "invalid_json" else error.message) from None
    route = warm_route(request.pop("route", None)) or default_route
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


def warm_route(value: Any) -> str | None:
    """A route as a warming line or option names it; raises ValueError."""
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
