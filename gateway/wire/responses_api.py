"""The Responses API (`POST /v1/responses`) as the gateway reads it: a request's body and headers become a
`ResponsesRequest` (its key in the cache, the body that goes upstream, how a cached answer is written back), and
the chaining the gateway does for the ids it issues itself.

A cached answer is served under a fresh id the upstream never saw. So that `previous_response_id` naming it works
(also for an answer another key's request produced on a shared route, or one made with `store: false`), the gateway
keeps what it served under that id, for the caller's tenant alone (`Served`), and a request naming it is sent
upstream with that conversation written out as input items instead (`chained`). Pure functions and values."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from gateway.errors import InvalidRequest, Uncacheable
from gateway.wire.canonical import SHARED_TENANT, RequestKey, digest, request_key
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import check_model
from gateway.wire.response_events import RESPONSE_ANSWERS, ResponseStream, replayed

# Fields that do not change which answer is right (as for chat): sampling, and what concerns the account only.
NEUTRAL_FIELDS = frozenset({
    "input", "model", "stream", "stream_options", "user", "metadata", "store", "service_tier", "temperature",
    "top_p", "prompt_cache_key", "safety_identifier",
})
# Fields a response echoes from its request: a cached answer says what this request asked, not what the first did.
ECHOED_FIELDS = ("metadata", "store", "temperature", "top_p", "user", "service_tier", "prompt_cache_key",
                 "safety_identifier", "previous_response_id")
# Tools whose calls the client runs itself: the answer depends on the request alone. The others are run by the
# provider and depend on the world (a search, files, a container, an MCP server, a generated image).
CLIENT_TOOLS = frozenset({"function", "custom", "local_shell", "shell", "apply_patch"})
MAX_ITEMS = 10_000
# A cached answer's conversation is kept for chaining as long as its id is (`Served`): one longer than this is
# answered upstream, never from the cache, so no request can make the gateway keep more than this per hit.
MAX_KEPT_INPUT_BYTES = 1 << 20


# An id the gateway issues: `resp_`, 16 random hex digits (each serve its own id), the digest of what was served
# (kept once under it, however often it is served) and the time it was served, in hex.
_ISSUED = re.compile(r"resp_[0-9a-f]{16}([0-9a-f]{32})([0-9a-f]{8})")
_PER_SERVE = ("id", "created_at", "completed_at")  # what differs each time one answer is served


@dataclass(slots=True)  # not frozen: built on every request
class ResponsesRequest:
    body: dict[str, Any]  # what goes upstream (a gateway-issued `previous_response_id` already written out)
    controls: Controls
    model: str
    stream: bool
    asked: dict[str, Any]  # the body as the client sent it: what a cached answer echoes
    hosted_tools: bool  # the route caches requests that offer tools the provider runs
    issued: Served | None = None  # the answer the gateway served it, once it has
    path = "/responses"

    @property
    def temperature(self) -> Any:
        return self.body.get("temperature")

    @property
    def variant(self) -> tuple[bytes, ...]:
        return (b"sse" if self.stream else b"json",)

    @property
    def may_be_private(self) -> bool:
        """Asked for encrypted content (`include: ["reasoning.encrypted_content"]`), the answer holds it."""
        include = self.body.get("include")
        return isinstance(include, list) and any("encrypted_content" in str(item) for item in include)

    @property
    def previous_id(self) -> str | None:
        """The `previous_response_id` the client named, which may be one the gateway issued."""
        value = self.asked.get("previous_response_id")
        return value if isinstance(value, str) else None

    def key(self, tenant: str) -> RequestKey | None:
        try:
            return responses_key(self.body, model=self.model, route=self.controls.route, tenant=tenant,
                                 hosted_tools=self.hosted_tools)
        except Uncacheable:
            return None

    def upstream_body(self, *, caching: bool) -> bytes:
        return forwardable(self.body if "model" in self.body else {**self.body, "model": self.model})

    def stream_answer(self, *, caching: bool) -> ResponseStream:
        return ResponseStream()

    def issue(self, answer: dict[str, Any]) -> Served:
        """`answer` as this request is served it, once: under an id of its own, with what this request asked
        echoed (not what the first asker did), and what is kept for that id."""
        if self.issued is None:
            echoed = {name: self.asked.get(name) for name in ECHOED_FIELDS}
            if echoed["store"] is None:
                echoed["store"] = True
            if echoed["metadata"] is None:
                echoed["metadata"] = {}
            # Reasoning the upstream keeps by id is its account's, and only if the first request stored it: a
            # client giving it back (`input += output`) would be refused. With its encrypted content it stands alone.
            output = [item for item in answer.get("output") or ()
                      if item.get("type") != "reasoning" or item.get("encrypted_content")]
            response = {name: value for name, value in answer.items() if name not in _PER_SERVE}
            content = Served({**response, **echoed, "output": output}, _items(self.body.get("input")),
                             self.body.get("previous_response_id"))
            kept = content.dumps()  # once: its digest goes in the id, and it is what is kept
            now = int(time.time())
            self.issued = replace(content.served_as(f"resp_{secrets.token_hex(8)}{digest(kept)}{now:08x}", now),
                                  kept=kept)
        return self.issued

    def cached(self, answer: dict[str, Any]) -> bytes:
        response = self.issue(answer).response
        return replayed(response) if self.stream else orjson.dumps(response)


def read_responses(raw: bytes, headers: Mapping[str, str], *, default_model: str,
                   hosted_tool_routes: frozenset[str] = frozenset()) -> ResponsesRequest:
    """Raises InvalidRequest, in OpenAI's wording, for a body or a cache header the gateway cannot use."""
    body = parse_json_object(raw)
    _validate(body)
    controls = parse_controls(headers)
    return ResponsesRequest(body, controls, body.get("model") or default_model, bool(body.get("stream")), body,
                            controls.route in hosted_tool_routes)


def _expect(condition: bool, message: str, param: str) -> None:
    if not condition:
        raise InvalidRequest(message, param=param, code="invalid_type")


def _validate(body: dict[str, Any]) -> None:
    if "model" in body:
        check_model(body["model"])
    value = body.get("input")
    _expect(value is None or isinstance(value, (str, list)), "Invalid type for 'input': expected a string or an "
            "array of input items.", "input")
    if isinstance(value, list):
        _expect(len(value) <= MAX_ITEMS, f"Invalid 'input': at most {MAX_ITEMS} items are accepted.", "input")
        for index, item in enumerate(value):
            _expect(isinstance(item, dict), f"Invalid type for 'input[{index}]': expected an object.",
                    f"input[{index}]")
    _expect(isinstance(body.get("stream", False), bool) or body.get("stream") is None,
            "Invalid type for 'stream': expected a boolean.", "stream")
    _expect(body.get("tools") is None or (isinstance(body["tools"], list) and all(
        isinstance(tool, dict) and isinstance(tool.get("type"), str) for tool in body["tools"])),
            "Invalid type for 'tools': expected an array of objects, each with a string 'type'.", "tools")
    for name in ("previous_response_id", "instructions"):
        _expect(body.get(name) is None or isinstance(body[name], str),
                f"Invalid type for '{name}': expected a string.", name)
    for name in ("text", "reasoning", "metadata", "stream_options"):
        _expect(body.get(name) is None or isinstance(body[name], dict),
                f"Invalid type for '{name}': expected an object.", name)
    for name in ("temperature", "top_p"):
        number = body.get(name)
        _expect(number is None or (isinstance(number, (int, float)) and not isinstance(number, bool)),
                f"Invalid type for '{name}': expected a number.", name)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return [{"role": "user", "content": value}] if isinstance(value, str) else list(value)


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") in ("input_text", "output_text")
                                         and isinstance(part.get("text"), str) for part in content):
        return "".join(part["text"] for part in content)
    return None


def _normal_item(item: Any) -> Any:
    """Spellings that mean the same to the model hash alike: a message's text parts or a string, an explicit
    `"type": "message"` or none, null or absent."""
    if not isinstance(item, dict):
        return item
    normal = {name: value for name, value in item.items() if value is not None}
    if "role" in normal and normal.get("type") == "message":
        del normal["type"]
    text = _text_of(normal.get("content"))
    if "role" in normal and text is not None:
        normal["content"] = text
    return normal


def _names_account_objects(body: dict[str, Any]) -> bool:
    """Whether the request names objects an upstream account keeps (an earlier response, items, files): what it
    means depends on whose account reads it."""
    if body.get("previous_response_id") is not None:
        return True
    for item in _items(body.get("input")):
        if isinstance(item, dict) and (item.get("type") == "item_reference" or any(
                isinstance(part, dict) and part.get("file_id") for part in _parts(item))):
            return True
    return False


def _parts(item: dict[str, Any]) -> list[Any]:
    content = item.get("content")
    return content if isinstance(content, list) else []


def responses_key(body: dict[str, Any], *, model: str, route: str, tenant: str,
                  hosted_tools: bool = False) -> RequestKey:
    """Key a validated request. Raises `Uncacheable` for one the cache must not serve: run in the background,
    continuing a conversation the upstream keeps (a hit would leave it out of it), offering tools the provider
    runs against the world or a stored prompt template (which may change, and may carry such tools) unless the
    route opts in, naming objects of one account on a route every account shares, or too long a conversation to
    keep for chaining (`MAX_KEPT_INPUT_BYTES`)."""
    if body.get("background"):
        raise Uncacheable("background")
    if body.get("conversation") is not None:
        raise Uncacheable("conversation")
    if not hosted_tools and (body.get("prompt") is not None
                             or any(tool.get("type") not in CLIENT_TOOLS for tool in body.get("tools") or ())):
        raise Uncacheable("hosted tools")
    if tenant == SHARED_TENANT and _names_account_objects(body):
        raise Uncacheable("account objects on a shared route")
    if len(orjson.dumps(body.get("input"))) > MAX_KEPT_INPUT_BYTES:
        raise Uncacheable("conversation too long to keep")
    turns = [_normal_item(item) for item in _items(body.get("input"))] or [None]
    final = turns[-1]
    prompt = None
    if isinstance(final, dict) and final.get("role") == "user" and not set(final) - {"role", "content"}:
        prompt = final.get("content")
    params = {name: value for name, value in body.items() if name not in NEUTRAL_FIELDS and value is not None}
    return request_key(RESPONSE_ANSWERS, model=model, route=route, tenant=tenant, params=params, turns=turns,
                       prompt=prompt)


def kept_as(tenant: str, name: str) -> str:
    """Where what the gateway served is kept: its caller's alone."""
    return f"responses:{tenant}:{name}"


@dataclass(frozen=True)
class Served:
    """An answer the gateway served under an id of its own (`response`), and the conversation it answered (input
    items written out, and the upstream `previous_response_id` they follow, if any)."""

    response: dict[str, Any]
    input: list[Any]
    previous: str | None
    kept: bytes = field(default=b"", repr=False, compare=False)  # `dumps()`, taken once when it was issued

    def dumps(self) -> bytes:
        """What is kept: all but what differs each time the answer is served."""
        response = {name: value for name, value in self.response.items() if name not in _PER_SERVE}
        return orjson.dumps({"response": response, "input": self.input, "previous": self.previous})

    def served_as(self, response_id: str, created_at: int) -> Served:
        response = {**self.response, "id": response_id, "created_at": created_at}
        if response.get("status") == "completed":
            response["completed_at"] = created_at
        return Served(response, self.input, self.previous)

    def kept_under(self, tenant: str) -> list[tuple[str, bytes]]:
        """What to keep so that its id can be named later, by name: named by its content, whose digest the id
        carries, so however often one answer is served in one conversation, it is kept once."""
        names = kept_names(tenant, str(self.response.get("id")))
        assert names is not None, "only what was issued is kept"
        return [(names[0], self.kept)]


def kept_names(tenant: str, response_id: str) -> list[str] | None:
    """Where what was served under `response_id` is kept, and where its deletion would be; None for an id the
    gateway did not issue."""
    issued = _ISSUED.fullmatch(response_id)
    if issued is None:
        return None
    return [kept_as(tenant, "served:" + issued.group(1)), kept_as(tenant, "deleted:" + response_id)]


def restored(response_id: str, kept: bytes | None, deleted: bytes | None) -> Served | None:
    """What was served under `response_id` (an id `kept_names` read), from what was kept; None if nothing was, or
    it was deleted since."""
    issued = _ISSUED.fullmatch(response_id)
    if issued is None or kept is None or deleted is not None:
        return None
    try:
        value = orjson.loads(kept)
        content = Served(value["response"], value["input"], value["previous"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return content.served_as(response_id, int(issued.group(2), 16))


_ID_OPTIONAL = frozenset({"function_call", "custom_tool_call"})


def _as_input(item: Any) -> Any | None:
    """An output item as the input item that gives it back to the model: as returned (the API takes output items
    as input), a message as its text, without an `id` where the API does not need one (one the upstream never
    issued); None for reasoning without its encrypted content, which only the upstream that made it could read."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "message":
        text = "".join(part.get("text") or part.get("refusal") or "" for part in item.get("content") or ()
                       if isinstance(part, dict))
        return {"role": item.get("role", "assistant"), "content": text}
    if kind == "reasoning":
        return item if item.get("encrypted_content") else None
    return {name: value for name, value in item.items() if name != "id"} if kind in _ID_OPTIONAL else item


def chained(request: ResponsesRequest, served: Served) -> ResponsesRequest:
    """`request`, which names `served`'s id as its `previous_response_id`, with that conversation written out."""
    earlier = [*served.input, *(item for item in map(_as_input, served.response.get("output") or ()) if item)]
    body = {name: value for name, value in request.body.items() if name != "previous_response_id"}
    body["input"] = earlier + _items(request.body.get("input"))
    if served.previous is not None:
        body["previous_response_id"] = served.previous
    return ResponsesRequest(body, request.controls, request.model, request.stream, request.asked,
                            request.hosted_tools)


def _listed(index: int, item: Any) -> dict[str, Any]:
    """An input item as the API lists it: a message with its text as parts, every item with an id."""
    if not isinstance(item, dict):
        return {"id": f"item_{index}", "type": "unknown", "value": item}
    if "role" in item:
        content = item.get("content")
        kind = "output_text" if item["role"] == "assistant" else "input_text"
        parts = [{"type": kind, "text": content}] if isinstance(content, str) else content
        return {"id": f"msg_{index}", "type": "message", "status": "completed", **item, "content": parts}
    return {"id": f"item_{index}", **item}


def input_items(served: Served) -> dict[str, Any]:
    """`GET /v1/responses/{id}/input_items` of a response the gateway issued: its input items, newest first."""
    data = [_listed(index, item) for index, item in enumerate(reversed(served.input))]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": False}
