"""One canonical stored answer (a `chat.completion` object) and the two ways back to a client: built
from stream chunks on a streamed miss, and replayed as JSON or as `chat.completion.chunk` SSE on a hit."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from gateway.wire.answers import Reply, tool_call

_WORDS = re.compile(r"\s*\S+")
_WORDS_PER_CHUNK = 4


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


class CompletionAssembler:
    """Rebuilds the whole completion from streamed chunks; `result()` is None until every choice finished."""

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None

    def feed(self, chunk: dict[str, Any]) -> None:
        for field in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(field) is not None:
                self._head[field] = chunk[field]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            self._feed_choice(choice)

    def _feed_choice(self, choice: dict[str, Any]) -> None:
        state = self._choices.setdefault(
            choice.get("index", 0),
            {"message": {"role": "assistant"}, "finish_reason": None, "logprobs": None, "calls": {}},
        )
        delta = choice.get("delta") or {}
        message = state["message"]
        for field, value in delta.items():
            if field == "tool_calls":
                for call in value or ():
                    self._feed_call(state["calls"], call)
            elif isinstance(value, str) and field != "role":
                message[field] = message.get(field, "") + value
            elif value is not None:
                message[field] = value
        if choice.get("logprobs"):
            merged = state["logprobs"] or {"content": []}
            merged["content"].extend(choice["logprobs"].get("content") or ())
            state["logprobs"] = merged
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]

    @staticmethod
    def _feed_call(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
        call = calls.setdefault(delta.get("index", 0), {"id": None, "type": "function",
                                                         "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""

    def result(self) -> dict[str, Any] | None:
        if not self._choices or any(state["finish_reason"] is None for state in self._choices.values()):
            return None
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message = {"content": None, "refusal": None, **state["message"]}
            if state["calls"]:
                message["tool_calls"] = [state["calls"][key] for key in sorted(state["calls"])]
            choices.append({"index": index, "message": message, "logprobs": state["logprobs"],
                            "finish_reason": state["finish_reason"]})
        completion = {"id": self._head.get("id") or new_id(), "object": "chat.completion",
                      "created": self._head.get("created") or int(time.time()),
                      "model": self._head.get("model"), "choices": choices, "usage": self._usage}
        for field in ("system_fingerprint", "service_tier"):
            if field in self._head:
                completion[field] = self._head[field]
        return completion


def is_complete(completion: Any) -> bool:
    """A stored answer must be a finished chat.completion, never an error or a cut-off stream."""
    if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
        return False
    return bool(completion["choices"]) and all(
        isinstance(choice, dict) and isinstance(choice.get("message"), dict) and choice.get("finish_reason")
        for choice in completion["choices"]
    )


class ChatAnswers:
    """A `chat.completion` as the cache reads it (`gateway.wire.answers.AnswerShape`): its first choice says it."""

    kind = "chat"
    complete = staticmethod(is_complete)

    @staticmethod
    def reply(answer: dict[str, Any]) -> Reply:
        message = ((answer.get("choices") or [{}])[0] or {}).get("message") or {}
        calls = tuple(tool_call((item.get("function") or {}).get("name"), (item.get("function") or {}).get("arguments"))
                      for item in message.get("tool_calls") or ())
        return Reply((message.get("content") or "").strip(), calls)

    @staticmethod
    def private(answer: dict[str, Any]) -> bool:
        return False  # a chat completion carries no reasoning only its tenant's account can read


CHAT_ANSWERS = ChatAnswers()


def as_response(completion: dict[str, Any]) -> dict[str, Any]:
    """A hit as a fresh JSON response: new id and time, the stored answer, usage and fingerprint."""
    return {**completion, "id": new_id(), "created": int(time.time())}


def pieces(text: str) -> list[str]:
    """A text cut into the few-word pieces a replayed stream sends it in."""
    words = _WORDS.findall(text)
    parts = ["".join(words[at:at + _WORDS_PER_CHUNK]) for at in range(0, len(words), _WORDS_PER_CHUNK)]
    if parts:
        parts[-1] += text[len("".join(parts)):]  # trailing whitespace the regex left out
    return parts or ([text] if text else [])


def _choice_deltas(choice: dict[str, Any]) -> list[dict[str, Any]]:
    message = choice.get("message") or {}
    opening = "" if isinstance(message.get("content"), str) else None  # null content stays null
    deltas: list[dict[str, Any]] = [{"role": message.get("role", "assistant"), "content": opening}]
    if message.get("refusal"):
        deltas[0] = {"role": message.get("role", "assistant"), "content": None, "refusal": ""}
        deltas += [{"refusal": piece} for piece in pieces(message["refusal"])]
    deltas += [{"content": piece} for piece in pieces(message.get("content") or "")]
    for field in ("reasoning_content", "reasoning", "annotations", "audio"):
        if message.get(field):
            deltas.append({field: message[field]})
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        deltas.append({"tool_calls": [{"index": index, "id": call.get("id"), "type": call.get("type", "function"),
                                       "function": {"name": function.get("name", ""), "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                   for piece in pieces(function.get("arguments") or "")]
    return deltas


def as_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A stored answer as the `chat.completion.chunk` objects OpenAI would have streamed for it."""
    head = {"id": new_id(), "object": "chat.completion.chunk", "created": int(time.time()),
            "model": completion.get("model")}
    for field in ("system_fingerprint", "service_tier"):
        if field in completion:
            head[field] = completion[field]
    extra = {"usage": None} if include_usage else {}
    chunks = []
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        for delta in _choice_deltas(choice):
            chunks.append({**head, "choices": [{"index": index, "delta": delta, "logprobs": None,
                                                "finish_reason": None}], **extra})
        chunks.append({**head, "choices": [{"index": index, "delta": {}, "logprobs": choice.get("logprobs"),
                                            "finish_reason": choice.get("finish_reason")}], **extra})
    if include_usage:
        chunks.append({**head, "choices": [], "usage": completion.get("usage")})
    return chunks
