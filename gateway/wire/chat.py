"""The chat-completions wire format as the gateway reads and writes it: a request's body and headers become a
`ChatRequest` (what it asks, its cache controls, the key of what it may be served); the request as it goes
upstream; a streamed answer read event by event; a cached answer written back as JSON or as SSE. Pure functions
and values: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from gateway.errors import Uncacheable
from gateway.wire import sse
from gateway.wire.canonical import RequestKey, chat_key
from gateway.wire.completion import CompletionAssembler, as_chunks, as_response
from gateway.wire.controls import Controls, parse_controls
from gateway.wire.errors import error_event
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import validate_chat


@dataclass(slots=True)  # not frozen: built on every request, and a frozen init costs a hit ~1 µs
class ChatRequest:
    body: dict[str, Any]  # as read: what goes upstream
    controls: Controls
    model: str  # the body's, else the gateway's default
    stream: bool
    client_usage: bool  # a streamed answer's client asked for its usage chunk
    path = "/chat/completions"
    may_be_private = False  # a chat completion carries no reasoning only its tenant's account can read

    @property
    def temperature(self) -> Any:
        return self.body.get("temperature")

    @property
    def variant(self) -> tuple[bytes, ...]:
        """What else decides the bytes a client is sent for the same answer."""
        return b"sse" if self.stream else b"json", b"usage" if self.client_usage else b""

    def key(self, tenant: str) -> RequestKey | None:
        """The key of what this request may be served, among `tenant`'s entries; None when the cache must not
        serve it (several choices, audio output)."""
        try:
            return chat_key(self.body, model=self.model, route=self.controls.route, tenant=tenant)
        except Uncacheable:
            return None

    def _injects_usage(self, caching: bool) -> bool:
        """The cache stores a stream's usage: asked for upstream when the client did not, and not relayed to it."""
        return caching and self.stream and not self.client_usage

    def upstream_body(self, *, caching: bool) -> bytes:
        """The request as sent upstream: as the gateway read it, with the model if it was defaulted, and the
        usage chunk when the cache needs it."""
        changes: dict[str, Any] = {}
        if "model" not in self.body:
            changes["model"] = self.model
        if self._injects_usage(caching):
            changes["stream_options"] = {**(self.body.get("stream_options") or {}), "include_usage": True}
        return forwardable({**self.body, **changes} if changes else self.body)

    def stream_answer(self, *, caching: bool) -> ChatStream:
        return ChatStream(drop_usage=self._injects_usage(caching))

    def cached(self, answer: dict[str, Any]) -> bytes:
        if self.stream:
            return cached_events(answer, include_usage=self.client_usage)
        return cached_json(answer)

    @property
    def follows_up(self) -> bool:
        """Whether its final user turn goes on with a conversation the model already answered in."""
        return any(isinstance(turn, dict) and turn.get("role") == "assistant" for turn in self.body["messages"][:-1])

    def continued(self, answer: dict[str, Any], question: str) -> ChatRequest | None:
        """The request a client sends next to ask `question` once it was sent `answer` (its text echoed back as
        the assistant's turn, as clients do), not streamed; None when `answer` is no plain text to echo."""
        choices = answer.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) \
            else None
        text = message.get("content") if isinstance(message, dict) and not message.get("tool_calls") else None
        if not isinstance(text, str) or not text:
            return None
        body = {name: value for name, value in self.body.items() if name not in ("stream", "stream_options")}
        body["messages"] = [*self.body["messages"], {"role": "assistant", "content": text},
                            {"role": "user", "content": question}]
        return ChatRequest(body, self.controls, self.model, False, False)


def read_chat(raw: bytes, headers: Mapping[str, str], *, default_model: str) -> ChatRequest:
    """Raises InvalidRequest, in OpenAI's wording, for a body or a cache header the gateway cannot use."""
    body = parse_json_object(raw)
    validate_chat(body)
    controls = parse_controls(headers)
    return ChatRequest(body, controls, body.get("model") or default_model, bool(body.get("stream")),
                       bool((body.get("stream_options") or {}).get("include_usage")))


def cached_json(completion: dict[str, Any]) -> bytes:
    return orjson.dumps(as_response(completion))


def cached_events(completion: dict[str, Any], *, include_usage: bool) -> bytes:
    return b"".join(sse.encode(chunk) for chunk in as_chunks(completion, include_usage=include_usage)) + sse.DONE


class ChunkAssembler(Protocol):
    """Rebuilds a whole answer from its stream's chunks; `result()` is None until it is whole."""

    def feed(self, chunk: dict[str, Any]) -> None: ...

    def result(self) -> dict[str, Any] | None: ...


class ChatStream:
    """How a streamed chat answer is read as it is relayed (`gateway.flight.capture.StreamAnswer`): its chunks
    rebuild the completion, `[DONE]` ends it, and a usage chunk the gateway asked for itself is not relayed.
    OpenAI's legacy text completions stream alike, only their chunks rebuild another `assembler`'s answer."""

    def __init__(self, *, drop_usage: bool, assembler: ChunkAssembler | None = None) -> None:
        self._assembler = assembler or CompletionAssembler()
        self._drop_usage = drop_usage
        self._unreadable = False  # a chunk did not fit the API's shape: relayed, but there is no answer to keep
        self.ended = False

    def take(self, event: sse.Event) -> bool:
        """Read one event; whether the client is sent it. Raises UpstreamProtocolError."""
        if event.data == "[DONE]":
            self.ended = True
            return True
        if not event.data:
            return True  # comments and keep-alives
        payload = sse.json_of(event)
        if isinstance(payload, dict):
            try:
                self._assembler.feed(payload)
            except (TypeError, AttributeError, ValueError, KeyError):
                self._unreadable = True
            if self._drop_usage and payload.get("choices") == [] and payload.get("usage") is not None:
                return False  # usage was asked for the cache, not by the client
        return True

    def result(self) -> dict[str, Any] | None:
        return None if self._unreadable else self._assembler.result()

    @staticmethod
    def error(message: str, *, status: int, code: str) -> bytes:
        return error_event(message, status=status, code=code)
