"""The original design's interface, `POST /chat`: `{"user", "model", "route", "messages"}` in, the answer with
`cached` and `hit_distance` out. Read as a chat-completions request (its route in the body instead of `x-route`,
`user` neutral as it is for chat), answered by the chat path, and written back in its own shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gateway.errors import InvalidRequest
from gateway.wire.chat import ChatRequest
from gateway.wire.controls import parse_controls, parse_route
from gateway.wire.requests import validate_chat

FIELDS = ("user", "model", "route", "messages")


def read_seed_chat(body: dict[str, Any], headers: Mapping[str, str], *, default_model: str) -> ChatRequest:
    """Raises InvalidRequest for a body this interface does not take."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {unknown[0]}. This interface takes "
                             f"{', '.join(FIELDS)}; /v1/chat/completions takes everything else.", param=unknown[0])
    for name in ("user", "model", "route"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidRequest(f"Invalid type for '{name}': expected a string.", param=name, code="invalid_type")
    chat = {name: body[name] for name in ("model", "messages", "user") if body.get(name) is not None}
    validate_chat(chat)
    if body.get("route") is None:
        controls = parse_controls(headers)
    else:  # the body's route stands for the header, which is not read
        route = parse_route(body["route"], "'route'", "route", "invalid_value")
        controls = replace(parse_controls({name.lower(): value for name, value in headers.items()
                                           if name.lower() != "x-route"}), route=route)
    return ChatRequest(chat, controls, chat.get("model") or default_model, stream=False, client_usage=False)


def seed_answer(completion: dict[str, Any], *, route: str, state: str | None, layer: str | None,
                distance: str | None) -> dict[str, Any]:
    """The answer in the interface's shape, from a chat completion and the cache headers it was sent with: an exact
    hit is at distance 0, an identical request's answer (single-flight) and a miss have none."""
    choices = completion.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    cached = state == "hit"
    hit_distance = float(distance) if distance is not None else 0.0 if layer == "exact" else None
    return {"id": completion.get("id"), "model": completion.get("model"), "route": route,
            "answer": message.get("content"), "tool_calls": message.get("tool_calls"),
            "cached": cached, "layer": layer if cached else None, "hit_distance": hit_distance if cached else None,
            "usage": completion.get("usage")}
