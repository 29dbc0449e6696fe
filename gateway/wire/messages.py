"""Anthropic's Messages API as the gateway reads and writes it: a request's body and headers become a
`MessagesRequest` (what it asks, its cache controls, the key of what it may be served); the request as it goes
upstream; a streamed answer read event by event; a cached answer written back as JSON or as SSE. Pure functions
and values: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.wire import sse
from gateway.wire.anthropic_errors import ANTHROPIC_ERRORS
from gateway.wire.canonical import RequestKey, request_key
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.message_answers import MESSAGES_ANSWERS, MessageAssembler, as_events, as_json
from gateway.wire.message_requests import validate_messages

# Fields that do not change which answer is right for a request (a cached answer is one valid sample); every other
# field is in scope, so a field Anthropic adds tomorrow partitions the cache instead of letting a different request
# hit. `top_k` is not here: it narrows what may be sampled, as `max_tokens` and `stop_sequences` cut what is said.
NEUTRAL_FIELDS = frozenset({"messages", "model", "stream", "metadata", "temperature", "top_p", "service_tier",
                            "cache_control"})
# Request headers that choose what the API answers: its version (the shape of the answer) and the betas it enables.
SCOPE_HEADERS = ("anthropic-version", "anthropic-beta")


class Headers(Protocol):
    """Request headers, every value of a name (Starlette's `Headers`)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass(slots=True)  # not frozen: built on every request, and a frozen init costs a hit ~1 µs
class MessagesRequest:
    body: dict[str, Any]  # as read: what goes upstream
    headers: dict[str, Any]  # the headers in scope, normalised
    controls: Controls
    model: str
    stream: bool
    temperature: Any
    hosted_tools: bool = False  # the route caches requests that use tools Anthropic runs
    path = "/v1/messages"

    @property
    def variant(self) -> tuple[bytes, ...]:
        return (b"sse" if self.stream else b"json",)

    @property
    def may_be_private(self) -> bool:
        """With thinking on, the answer holds signed (or redacted) thinking."""
        thinking = self.body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") != "disabled"

    def key(self, tenant: str) -> RequestKey | None:
        """None for a request using tools Anthropic runs against the world (a search, a fetch, code in its
        container, MCP servers), unless the route opts in: its answer depends on more than the request."""
        if not self.hosted_tools and runs_server_tools(self.body):
            return None
        return messages_key(self.body, self.headers, route=self.controls.route, tenant=tenant)

    def upstream_body(self, *, caching: bool) -> bytes:
        return forwardable(self.body)

    def stream_answer(self, *, caching: bool) -> MessagesStream:
        return MessagesStream()

    def cached(self, answer: dict[str, Any]) -> bytes:
        return as_events(answer) if self.stream else as_json(answer)


def read_messages(raw: bytes, headers: Headers, *, hosted_tool_routes: frozenset[str] = frozenset()) -> MessagesRequest:
    """Raises InvalidRequest for a body or a cache header the gateway cannot use."""
    body = parse_json_object(raw)
    validate_messages(body)
    controls = parse_controls(headers)
    return MessagesRequest(body, scope_headers(headers), controls, body["model"], bool(body.get("stream")),
                           body.get("temperature"), controls.route in hosted_tool_routes)


# Tools Anthropic runs itself (versioned: `web_search_20250305`...); the others, `bash`, `text_editor`, `computer`
# included, are the client's to run.
SERVER_TOOLS = ("web_search", "web_fetch", "code_execution")


def runs_server_tools(body: dict[str, Any]) -> bool:
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    return (body.get("mcp_servers") is not None or body.get("container") is not None
            or any(isinstance(tool, dict) and str(tool.get("type", "")).startswith(SERVER_TOOLS) for tool in tools))


def scope_headers(headers: Headers) -> dict[str, Any]:
    """The version asked for, and the set of betas (in any order, over any number of headers)."""
    betas = {beta.strip() for value in headers.getlist("anthropic-beta") for beta in value.split(",")}
    return {"anthropic-version": ",".join(value.strip() for value in headers.getlist("anthropic-version")),
            "anthropic-beta": sorted(betas - {""})}


def _unmarked(block: Any) -> Any:
    """A block or tool without its `cache_control`, which says what Anthropic's prompt cache keeps of the request,
    not what is asked (a tool result's own blocks too)."""
    if not isinstance(block, dict):
        return block
    block = {name: value for name, value in block.items() if name != "cache_control" and value is not None}
    if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
        block["content"] = [_unmarked(part) for part in block["content"]]
    return block


def _plain_text(content: Any) -> str | None:
    """The text of content that is nothing but text: a string, or text blocks with nothing more (joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(
            isinstance(block, dict) and block.keys() == {"type", "text"} and block["type"] == "text"
            and isinstance(block["text"], str) for block in content):
        return "\n".join(block["text"] for block in content)
    return None


def _normal_content(content: Any) -> Any:
    """Blocks unmarked; one plain text block is its text, as the model reads it."""
    if not isinstance(content, list):
        return content
    blocks = [_unmarked(block) for block in content]
    return blocks[0]["text"] if len(blocks) == 1 and _plain_text(blocks) is not None else blocks


def messages_key(body: dict[str, Any], headers: dict[str, Any], *, route: str, tenant: str) -> RequestKey:
    """Key a validated request: every field but the neutral ones, with `system` and `tools` unmarked, and the
    headers in scope; the conversation's turns, whose last, a user's plain text, is the prompt."""
    turns = [{name: _normal_content(value) if name == "content" else value
              for name, value in message.items() if value is not None} for message in body["messages"]]
    fields = {name: value for name, value in body.items() if name not in NEUTRAL_FIELDS and value is not None}
    if "system" in fields:
        fields["system"] = _normal_content(fields["system"])
    if isinstance(fields.get("tools"), list):
        fields["tools"] = [_unmarked(tool) for tool in fields["tools"]]
    final = turns[-1]
    prompt = _plain_text(final["content"]) if final["role"] == "user" and final.keys() == {"role", "content"} else None
    return request_key(MESSAGES_ANSWERS, model=body["model"], route=route, tenant=tenant,
                       params={"fields": fields, "headers": headers}, turns=turns, prompt=prompt)


class MessagesStream:
    """How a streamed message is read as it is relayed (`gateway.flight.capture.StreamAnswer`): every event goes
    to the client and rebuilds the message, `message_stop` ends it; an `error` event ends it with nothing stored."""

    def __init__(self) -> None:
        self._assembler = MessageAssembler()
        self.ended = False

    def take(self, event: sse.Event) -> bool:
        """Read one event; whether the client is sent it (always). Raises UpstreamProtocolError."""
        if not event.data:
            return True  # comments and keep-alives
        payload = sse.json_of(event)
        self._assembler.feed(payload)
        self.ended = isinstance(payload, dict) and payload.get("type") == "message_stop"
        return True

    def result(self) -> dict[str, Any] | None:
        return self._assembler.result()

    error = staticmethod(ANTHROPIC_ERRORS.event)
