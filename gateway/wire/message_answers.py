"""One canonical stored answer of Anthropic's Messages API (a `message` object), what the cache reads of it
(`MessagesAnswers`), and the ways back to a client: rebuilt from its stream events on a streamed miss, replayed as
JSON or as the named SSE events Anthropic would have streamed for it on a hit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from gateway.wire import sse
from gateway.wire.answers import Reply, tool_call
from gateway.wire.completion import new_id, pieces

# What a stream's `message_delta` carries of the message, not its `message_start`.
_DELTA_FIELDS = ("stop_reason", "stop_sequence", "stop_details", "container")
# Blocks whose `input` streams as JSON text (`input_json_delta`); every other block but text and thinking arrives
# whole in its `content_block_start`.
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use"})


def is_complete(message: Any) -> bool:
    """A stored answer must be a finished message (it says why it stopped), never an error or a cut-off stream."""
    return (isinstance(message, dict) and message.get("type") == "message" and message.get("role") == "assistant"
            and isinstance(message.get("stop_reason"), str) and isinstance(message.get("content"), list)
            and all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in message["content"]))


class MessagesAnswers:
    """An Anthropic `message` as the cache reads it (`gateway.wire.answers.AnswerShape`)."""

    kind = "messages"
    complete = staticmethod(is_complete)

    @staticmethod
    def reply(answer: dict[str, Any]) -> Reply:
        blocks = [block for block in answer.get("content") or () if isinstance(block, dict)]
        text = "".join(block["text"] for block in blocks
                       if block.get("type") == "text" and isinstance(block.get("text"), str))
        calls = tuple(tool_call(block.get("name"), block.get("input")) for block in blocks
                      if block.get("type") == "tool_use")
        return Reply(text.strip(), calls)

    @staticmethod
    def private(answer: dict[str, Any]) -> bool:
        """Signed or redacted thinking: only the account it was made for can send it back in a later turn."""
        return any(isinstance(block, dict) and (block.get("type") == "redacted_thinking"
                                                or (block.get("type") == "thinking" and bool(block.get("signature"))))
                   for block in answer.get("content") or ())


MESSAGES_ANSWERS = MessagesAnswers()


def as_json(message: dict[str, Any]) -> bytes:
    """A hit as a fresh JSON response: a new id, the stored content and usage."""
    return orjson.dumps({**message, "id": new_id("msg_")})


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        opening = {name: value for name, value in block.items() if name != "citations"} | {"text": ""}
        deltas = [{"type": "citations_delta", "citation": citation} for citation in block.get("citations") or ()]
        deltas += [{"type": "text_delta", "text": piece} for piece in pieces(block.get("text") or "")]
    elif kind == "thinking":
        opening = {name: value for name, value in block.items() if name != "signature"} | {"thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in pieces(block.get("thinking") or "")]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind in _TOOL_BLOCKS:
        opening = {**block, "input": {}}
        # Python's JSON spacing gives the pieces places to split between tokens.
        arguments = json.dumps(block.get("input", {}), ensure_ascii=False)
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(arguments)]
    else:  # redacted thinking, server tool results...: whole in their start
        opening, deltas = block, []
    return [{"type": "content_block_start", "index": index, "content_block": opening},
            *({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas),
            {"type": "content_block_stop", "index": index}]


def as_events(message: dict[str, Any]) -> bytes:
    """A stored answer as the SSE events Anthropic would have streamed for it: the message without content, each
    block opened, filled in pieces and closed, why it stopped with its usage, the end."""
    usage = message.get("usage") or {}
    start = {name: value for name, value in message.items() if name not in _DELTA_FIELDS}
    start.update(id=new_id("msg_"), content=[], stop_reason=None, stop_sequence=None,
                 usage={**usage, "output_tokens": 0})
    delta = {"stop_reason": None, "stop_sequence": None} | {name: message[name] for name in _DELTA_FIELDS
                                                            if name in message}
    events = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message.get("content") or ()):
        events += _block_events(index, block)
    events += [{"type": "message_delta", "delta": delta, "usage": usage}, {"type": "message_stop"}]
    return b"".join(sse.encode_named(event["type"], event) for event in events)


class MessageAssembler:
    """Rebuilds the whole message from its stream events. `result()` is None until `message_stop`, and for good
    once an event could not be read into it (an error, an event or delta of a kind it does not know, one out of
    order): what it cannot rebuild exactly is never handed on to be stored."""

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._inputs: dict[int, str] = {}  # a tool block's input, as JSON text so far
        self._stopped = False
        self._broken = False

    def feed(self, event: Any) -> None:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "ping":
            return
        read = _READERS.get(kind) if isinstance(kind, str) else None
        started = self._message is not None
        if read is None or self._stopped or started == (kind == "message_start") or not read(self, event):
            self._broken = True

    def _start(self, event: dict[str, Any]) -> bool:
        message = event.get("message")
        if not isinstance(message, dict) or message.get("content"):
            return False
        self._message = {**message, "content": []}
        return True

    def _block_start(self, event: dict[str, Any]) -> bool:
        index, block = event.get("index"), event.get("content_block")
        if index != len(self._blocks) or not isinstance(block, dict):
            return False
        self._blocks[index] = dict(block)
        if block.get("type") in _TOOL_BLOCKS:
            self._inputs[index] = ""
        return True

    def _block_delta(self, event: dict[str, Any]) -> bool:
        index, delta = event.get("index"), event.get("delta")
        block = self._blocks.get(index) if isinstance(index, int) else None
        if block is None or not isinstance(delta, dict):
            return False
        kind = delta.get("type")
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str) and index in self._inputs:
            self._inputs[index] += delta["partial_json"]
        elif kind == "citations_delta" and block.get("type") == "text":
            block["citations"] = [*(block.get("citations") or ()), delta.get("citation")]
        elif kind == "signature_delta" and block.get("type") == "thinking" and isinstance(delta.get("signature"), str):
            block["signature"] = delta["signature"]
        else:
            field = {"text_delta": "text", "thinking_delta": "thinking"}.get(kind) if isinstance(kind, str) else None
            if field is None or block.get("type") != field or not isinstance(delta.get(field), str):
                return False
            block[field] = (block.get(field) or "") + delta[field]
        return True

    def _block_stop(self, event: dict[str, Any]) -> bool:
        index = event.get("index")
        if not isinstance(index, int) or index not in self._blocks:
            return False
        text = self._inputs.pop(index, "")
        if text:
            try:
                self._blocks[index]["input"] = orjson.loads(text)
            except orjson.JSONDecodeError:
                return False
        return True

    def _delta(self, event: dict[str, Any]) -> bool:
        delta, usage = event.get("delta"), event.get("usage")
        if not isinstance(delta, dict) or not isinstance(usage, dict) or self._message is None:
            return False
        self._message.update(delta)
        # Its counts are totals so far: they replace the start's, which stand where it sends none.
        self._message["usage"] = {**(self._message.get("usage") or {}),
                                  **{name: value for name, value in usage.items() if value is not None}}
        return True

    def _stop(self, event: dict[str, Any]) -> bool:
        self._stopped = True
        return True

    def result(self) -> dict[str, Any] | None:
        if self._broken or not self._stopped or self._message is None or self._inputs:
            return None
        return {**self._message, "content": [self._blocks[index] for index in range(len(self._blocks))]}


_READERS: dict[str, Callable[[MessageAssembler, dict[str, Any]], bool]] = {
    "message_start": MessageAssembler._start,
    "content_block_start": MessageAssembler._block_start,
    "content_block_delta": MessageAssembler._block_delta,
    "content_block_stop": MessageAssembler._block_stop,
    "message_delta": MessageAssembler._delta,
    "message_stop": MessageAssembler._stop,
}
