"""The fake's Anthropic Messages answers, as Anthropic's docs and SDK shape them: numbered like the chat answers
("answer N to: <the last user text>", never the same twice in a process), whole (a `message`) or as named SSE events
in the documented order; a `tool_use` block when tools are offered and the last user turn carries no tool result; a
signed thinking block first when thinking is enabled; the errors Anthropic gives (no key, no `anthropic-version`, no
model, max_tokens or messages); and token counts."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.support.fake_upstream.behaviours import Behaviour
from tests.support.fake_upstream.chat import next_answer_number, split_in, split_words, words
from tests.support.fake_upstream.records import RecordedRequest

if TYPE_CHECKING:
    from tests.support.fake_upstream.handler import Handler

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}


def anthropic_error(message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


def default_anthropic_error(status: int) -> dict[str, Any]:
    return anthropic_error(f"Injected failure with status {status}.", _ERROR_TYPES.get(status, "api_error"))


def refusal(path: str, headers: dict[str, str], request: Any) -> tuple[int, dict[str, Any]] | None:
    """The status and error Anthropic answers a request to `path` it refuses with, else None."""
    if not headers.get("x-api-key") and not headers.get("authorization"):
        return 401, anthropic_error("x-api-key header is required", "authentication_error")
    if not headers.get("anthropic-version"):
        return 400, anthropic_error("anthropic-version: header is required")
    if not isinstance(request, dict):
        return 400, anthropic_error("There was an issue with the format of your request: invalid JSON")
    for name in ("model", "messages") if path == COUNT_TOKENS_PATH else ("model", "max_tokens", "messages"):
        if name not in request:
            return 400, anthropic_error(f"{name}: Field required")
    if not isinstance(request["messages"], list) or not request["messages"]:
        return 400, anthropic_error("messages: at least one message is required")
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    blocks = content if isinstance(content, list) else []
    return " ".join(block["text"] for block in blocks if isinstance(block, dict) and isinstance(block.get("text"), str))


def _carries_tool_result(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def count_tokens(request: dict[str, Any]) -> dict[str, Any]:
    return {"input_tokens": sum(words(_text(m.get("content"))) for m in request["messages"] if isinstance(m, dict))}


@dataclass
class MessagePlan:
    """Everything needed to answer one Messages request, streamed or not."""

    number: int
    model: str
    input_tokens: int
    blocks: list[dict[str, Any]]
    stop_reason: str

    @property
    def id(self) -> str:
        return f"msg_fake{self.number}"

    def output_tokens(self) -> int:
        return sum(words(block.get("text") or block.get("thinking") or json.dumps(block.get("input")))
                   for block in self.blocks)

    def message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": self.blocks,
                "stop_reason": self.stop_reason, "stop_sequence": None,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens()}}

    def _block_events(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        def delta(value: dict[str, Any]) -> dict[str, Any]:
            return {"type": "content_block_delta", "index": index, "delta": value}

        if block["type"] == "text":
            opening = {"type": "text", "text": ""}
            deltas = [delta({"type": "text_delta", "text": word}) for word in split_words(block["text"])]
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": ""}
            deltas = [delta({"type": "thinking_delta", "thinking": word}) for word in split_words(block["thinking"])]
            deltas.append(delta({"type": "signature_delta", "signature": block["signature"]}))
        else:
            opening = {**block, "input": {}}
            deltas = [delta({"type": "input_json_delta", "partial_json": ""})]
            deltas += [delta({"type": "input_json_delta", "partial_json": piece})
                       for piece in split_in(json.dumps(block["input"]), 3)]
        return [{"type": "content_block_start", "index": index, "content_block": opening}, *deltas,
                {"type": "content_block_stop", "index": index}]

    def events(self) -> Iterator[bytes]:
        """The stream's named SSE events in the documented order (a ping after the first block opens), each made
        when it is asked for."""
        start = {**self.message(), "content": [], "stop_reason": None,
                 "usage": {"input_tokens": self.input_tokens, "output_tokens": 1}}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        for index, block in enumerate(self.blocks):
            events += self._block_events(index, block)
            if index == 0:
                events.insert(2, {"type": "ping"})
        events += [{"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens()}},
                   {"type": "message_stop"}]
        for event in events:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _tool_name(request: dict[str, Any]) -> str | None:
    tools, choice = request.get("tools"), request.get("tool_choice") or {}
    if not isinstance(tools, list) or not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return str(choice.get("name"))
    return str(tools[0].get("name", "tool")) if isinstance(tools[0], dict) else "tool"


def plan_messages(request: dict[str, Any]) -> MessagePlan:
    """The answer to a valid Messages request."""
    messages = [m for m in request["messages"] if isinstance(m, dict)]
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    prompt = _text(last_user.get("content"))
    number = next_answer_number()
    blocks: list[dict[str, Any]] = []
    if (request.get("thinking") or {}).get("type") == "enabled":
        blocks.append({"type": "thinking", "thinking": f"thinking {number} about: {prompt}",
                       "signature": f"sig-fake-{number}"})
    tool = _tool_name(request)
    if tool is not None and not _carries_tool_result(last_user):
        blocks.append({"type": "tool_use", "id": f"toolu_fake{number}", "name": tool, "input": {"q": prompt}})
        stop_reason = "tool_use"
    else:
        blocks.append({"type": "text", "text": f"answer {number} to: {prompt}"})
        stop_reason = "end_turn"
    input_tokens = sum(words(_text(m.get("content"))) for m in messages)
    return MessagePlan(number, str(request["model"]), input_tokens, blocks, stop_reason)


def serve_messages(handler: Handler, req: RecordedRequest, behaviour: Behaviour | None) -> None:
    """Answer a request on /v1/messages or its token count: refused, counted, or a message whole or streamed (a
    `break_stream` behaviour cuts it short)."""
    refused = refusal(req.path, req.headers, req.json)
    if refused is not None:
        handler._send_json(*refused)
        return
    assert isinstance(req.json, dict)
    if req.path == COUNT_TOKENS_PATH:
        handler._send_json(200, count_tokens(req.json), {"x-fake-count": "1"})
        return
    plan = plan_messages(req.json)
    whole = None if req.json.get("stream") else json.dumps(plan.message()).encode()
    if behaviour is not None and behaviour.kind == "break_stream":
        if whole is None:
            handler._send_stream(itertools.islice(plan.events(), behaviour.after_events), "text/event-stream",
                                 abort=True)
        else:
            handler._send_truncated(whole)
        return
    headers = {"request-id": f"req_fake{plan.number}"}
    if whole is None:
        handler._send_stream(plan.events(), "text/event-stream", headers=headers)
    else:
        handler._send_bytes(200, whole, "application/json", headers)
