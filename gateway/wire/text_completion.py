"""OpenAI's legacy text completions (`POST /v1/completions`) as the gateway reads them: a body and its headers
become a `TextCompletionRequest` keyed on its prompt; it goes upstream, streams and is written back from the cache
as a chat request does, with `text_completion` answers (`gateway.wire.text_completion_answer`). Pure: no I/O.

What the cache may serve a request:
- one prompt, a string (or an array of one string, the same request): exact, then semantic on that string;
- any other prompt (several prompts, tokens, token arrays): only an exact repeat of the whole request;
- with `echo` or `logprobs`: only an exact repeat too, for the answer restates the prompt or indexes into it
  (`text_offset`), which another prompt would not match;
- `n` > 1: nothing (a bypass), as for chat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import Uncacheable
from gateway.wire import sse
from gateway.wire.canonical import NEUTRAL_FIELDS, RequestKey, request_key
from gateway.wire.chat import ChatRequest, ChatStream
from gateway.wire.controls import parse_controls
from gateway.wire.json_body import parse_json_object
from gateway.wire.requests import validate_text_completion
from gateway.wire.text_completion_answer import (
    TEXT_COMPLETION_ANSWERS,
    TextCompletionAssembler,
    as_chunks,
    as_response,
)

# Chat's neutral fields, for the same reasons (a cached answer is one valid sample; `n` apart), with the prompt
# in place of the messages: `suffix`, `max_tokens`, `stop`, `best_of`, `logit_bias`, the penalties and any field
# unknown today are in scope.
NEUTRAL_TEXT_COMPLETION_FIELDS = (NEUTRAL_FIELDS - {"messages"}) | {"prompt"}


def text_completion_key(body: dict[str, Any], *, model: str, route: str, tenant: str) -> RequestKey:
    """Key a validated legacy completions request. Raises `Uncacheable` for requests the cache must not serve."""
    choices = body.get("n")
    if choices is not None and choices != 1:
        raise Uncacheable("n > 1")
    prompt = body["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    params = {name: value for name, value in body.items()
              if name not in NEUTRAL_TEXT_COMPLETION_FIELDS and value is not None}
    restated = body.get("echo") is True or body.get("logprobs") is not None
    return request_key(TEXT_COMPLETION_ANSWERS, model=model, route=route, tenant=tenant, params=params,
                       turns=[prompt], prompt=None if restated else prompt)


class TextCompletionRequest(ChatRequest):
    """A legacy completions request: sent upstream (its stream's usage asked for when the cache needs it) and
    told apart by its variant as a chat request is; only its key, its chunks and its answers differ."""

    __slots__ = ()
    path = "/completions"

    def key(self, tenant: str) -> RequestKey | None:
        try:
            return text_completion_key(self.body, model=self.model, route=self.controls.route, tenant=tenant)
        except Uncacheable:
            return None

    def stream_answer(self, *, caching: bool) -> ChatStream:
        return ChatStream(drop_usage=self._injects_usage(caching), assembler=TextCompletionAssembler())

    def cached(self, answer: dict[str, Any]) -> bytes:
        if self.stream:
            chunks = as_chunks(answer, include_usage=self.client_usage)
            return b"".join(sse.encode(chunk) for chunk in chunks) + sse.DONE
        return orjson.dumps(as_response(answer))


def read_text_completion(raw: bytes, headers: Mapping[str, str]) -> TextCompletionRequest:
    """Raises InvalidRequest, in OpenAI's wording, for a body or a cache header the gateway cannot use."""
    body = parse_json_object(raw)
    validate_text_completion(body)
    return TextCompletionRequest(body, parse_controls(headers), body["model"], bool(body.get("stream")),
                                 bool((body.get("stream_options") or {}).get("include_usage")))
