"""The Responses API (`POST /v1/responses`) as the gateway reads it: a request's body and headers become a
`ResponsesRequest` (its key in the cache, the body that goes upstream, how a cached answer is written back).

A cached answer is served under a fresh id the upstream never saw (`gateway.wire.issued_responses`). So that
`previous_response_id` naming it works (also for an answer another key's request produced on a shared route, or
one made with `store: false`), a request naming it is sent upstream with that conversation written out as input
items instead (`chained`). Pure functions and values; one is memoized (`remembered_issuable`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from gateway.errors import InvalidRequest, Uncacheable
from gateway.wire.canonical import SHARED_TENANT, RequestKey, request_key
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.issued_responses import Served, issuable
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import check_model
from gateway.wire.response_events import RESPONSE_ANSWERS, ResponseStream, answer_in, replayed

# Fields that do not change which answer is right (as for chat): sampling, and what concerns the account only.
NEUTRAL_FIELDS = frozenset({
    "input", "model", "stream", "stream_options", "user", "metadata", "store", "service_tier", "temperature",
    "top_p", "prompt_cache_key", "safety_identifier",
})
# Tools whose calls the client runs itself: the answer depends on the request alone. The others are run by the
# provider and depend on the world (a search, files, a container, an MCP server, a generated image).
CLIENT_TOOLS = frozenset({"function", "custom", "local_shell", "shell", "apply_patch"})
MAX_ITEMS = 10_000
# A cached answer's conversation is kept for chaining as long as its id is (`Served`): one longer than this is
# answered upstream, never from the cache, so no request can make the gateway keep more than this per hit.
MAX_KEPT_INPUT_BYTES = 1 << 20
# What serving one answer to one request keeps is built once for this many recent (answer, request) pairs, no
# longer than this together and of no more JSON values (counted by their separators and brackets) than this: the
# common hit, the same request over and over, costs about what a chat hit does, and what the memo holds stays under
# 10 MB whatever is sent (parsed, a value takes tens of times its bytes).
REMEMBERED_ISSUES, REMEMBERED_ISSUE_BYTES, REMEMBERED_ISSUE_VALUES = 128, 16 << 10, 256
METADATA_PAIRS = 16  # as OpenAI accepts
# Fields a cached answer echoes that hold a string: checked as the upstream would, which would refuse what else
# a hit would echo.
STRING_FIELDS = ("previous_response_id", "instructions", "user", "safety_identifier", "prompt_cache_key",
                 "service_tier")
OBJECT_FIELDS = ("text", "reasoning", "metadata", "stream_options")


@dataclass(slots=True)  # not frozen: built on every request
class ResponsesRequest:
    body: dict[str, Any]  # what goes upstream (a gateway-issued `previous_response_id` already written out)
    controls: Controls
    model: str
    stream: bool
    asked: dict[str, Any]  # the body as the client sent it: what a cached answer echoes
    raw: bytes  # the client's bytes, what `asked` was read from
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

    def issue(self, answer: dict[str, Any], raw: bytes = b"") -> Served:
        """`answer` (`raw`: its bytes, as stored or relayed, if known) as this request is served it, under an id of
        its own, once however often it is asked."""
        if self.issued is None:
            if raw and self.body is self.asked and _rememberable(raw, self.raw):
                kept = remembered_issuable(raw, self.raw)  # not chained: its bytes say all it asked
            else:
                kept = issuable(answer, asked=self.asked, conversation=_items(self.body.get("input")),
                                previous=self.body.get("previous_response_id"))
            self.issued = kept.issued()
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
    return ResponsesRequest(body, controls, body.get("model") or default_model, bool(body.get("stream")), body, raw,
                            controls.route in hosted_tool_routes)


def _rememberable(answer: bytes, request: bytes) -> bool:
    # Every value but the first of a container follows a separator, and every container opens with a bracket.
    if len(answer) + len(request) > REMEMBERED_ISSUE_BYTES:
        return False
    values = answer.count(b",") + answer.count(b"[") + answer.count(b"{")
    return values + request.count(b",") + request.count(b"[") + request.count(b"{") <= REMEMBERED_ISSUE_VALUES


@functools.lru_cache(maxsize=REMEMBERED_ISSUES)
def remembered_issuable(answer: bytes, request: bytes) -> Served:
    """`issuable` of an answer and of a request not chained, read from their bytes (both read whole before). Every
    serve of what it returns shares its nested values, across tenants: nothing may change them in place."""
    whole, asked = answer_in(answer), orjson.loads(request)
    assert whole is not None, "only a whole answer is served"
    return issuable(whole, asked=asked, conversation=_items(asked.get("input")),
                    previous=asked.get("previous_response_id"))


def _refuse(message: str, param: str) -> NoReturn:
    raise InvalidRequest(message, param=param, code="invalid_type")


def _validate(body: dict[str, Any]) -> None:
    # Every message is built only to be raised: this runs on every request, hits included.
    if "model" in body:
        check_model(body["model"])
    value = body.get("input")
    if value is not None and not isinstance(value, (str, list)):
        _refuse("Invalid type for 'input': expected a string or an array of input items.", "input")
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            _refuse(f"Invalid 'input': at most {MAX_ITEMS} items are accepted.", "input")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                _refuse(f"Invalid type for 'input[{index}]': expected an object.", f"input[{index}]")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        _refuse("Invalid type for 'stream': expected a boolean.", "stream")
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(
            isinstance(tool, dict) and isinstance(tool.get("type"), str) for tool in tools)):
        _refuse("Invalid type for 'tools': expected an array of objects, each with a string 'type'.", "tools")
    for name in STRING_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            _refuse(f"Invalid type for '{name}': expected a string.", name)
    for name in OBJECT_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], dict):
            _refuse(f"Invalid type for '{name}': expected an object.", name)
    metadata = body.get("metadata") or {}
    if len(metadata) > METADATA_PAIRS or not all(isinstance(value, str) for value in metadata.values()):
        _refuse(f"Invalid 'metadata': expected an object of at most {METADATA_PAIRS} string values.", "metadata")
    for name in ("temperature", "top_p"):
        number = body.get(name)
        if number is not None and (not isinstance(number, (int, float)) or isinstance(number, bool)):
            _refuse(f"Invalid type for '{name}': expected a number.", name)


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


def chained(request: ResponsesRequest, served: Served) -> ResponsesRequest:
    """`request`, which names `served`'s id as its `previous_response_id`, with that conversation written out."""
    body = {name: value for name, value in request.body.items() if name != "previous_response_id"}
    body["input"] = served.conversation() + _items(request.body.get("input"))
    if served.previous is not None:
        body["previous_response_id"] = served.previous
    return ResponsesRequest(body, request.controls, request.model, request.stream, request.asked, request.raw,
                            request.hosted_tools)
