"""The fake's chat answers: numbered ("answer N to: <the last user message>", never the same twice in a process),
whole or as one chunk per word, with usage when asked for, a tool call when tools are offered, `n` choices; and
the validation errors OpenAI gives for a request without a model or messages."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.fake_upstream.shapes import openai_error

# Process-wide so that two FakeUpstream instances never produce the same answer: a test can then tell
# a cached answer from a fresh one even across fixtures.
_answer_counter = itertools.count(1)
_answer_lock = threading.Lock()


def next_answer_number() -> int:
    with _answer_lock:
        return next(_answer_counter)


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return " ".join(parts)
    return ""


def words(text: str) -> int:
    return len(text.split())


def split_words(text: str) -> list[str]:
    # Every piece keeps its leading whitespace so that "".join(pieces) == text exactly. Cut at each word's end
    # (`\s*\S+` would rescan a long run of trailing spaces from each of its positions: quadratic).
    ends = [match.end() for match in re.finditer(r"\S+", text)]
    if not ends:
        return [text] if text else []
    ends[-1] = len(text)
    return [text[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def split_in(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class ChatPlan:
    """Everything needed to answer one chat request, streamed or not."""

    number: int
    model: str
    created: int
    prompt_tokens: int
    choices: list[dict[str, Any]]  # {"content": str|None, "tool_call": dict|None, "finish_reason": str}
    prompt: str = ""  # the last user message's text

    @property
    def id(self) -> str:
        return f"chatcmpl-fake-{self.number}"

    def completion_tokens(self) -> int:
        total = 0
        for choice in self.choices:
            if choice["tool_call"] is not None:
                total += words(choice["tool_call"]["function"]["arguments"])
            else:
                total += words(choice["content"] or "")
        return total

    def usage(self) -> dict[str, int]:
        completion = self.completion_tokens()
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def completion(self) -> dict[str, Any]:
        choices = []
        for index, choice in enumerate(self.choices):
            message: dict[str, Any] = {"role": "assistant", "content": choice["content"], "refusal": None}
            if choice["tool_call"] is not None:
                message["tool_calls"] = [choice["tool_call"]]
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": choice["finish_reason"],
                }
            )
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage(),
            "system_fingerprint": "fp_fake",
        }

    def chunks(self, include_usage: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            out.append(self._chunk([choice], include_usage))

        for index, choice in enumerate(self.choices):
            call = choice["tool_call"]
            if call is None:
                chunk(index, {"role": "assistant", "content": "", "refusal": None})
                for word in split_words(choice["content"] or ""):
                    chunk(index, {"content": word})
            else:
                head = {"index": 0, "id": call["id"], "type": "function"}
                head["function"] = {"name": call["function"]["name"], "arguments": ""}
                chunk(index, {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
                for piece in split_in(call["function"]["arguments"], 3):
                    chunk(index, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            chunk(index, {}, choice["finish_reason"])
        if include_usage:
            final = self._chunk([], include_usage)
            final["usage"] = self.usage()
            out.append(final)
        return out

    def events(self, include_usage: bool) -> Iterator[bytes]:
        """The stream's SSE events, [DONE] last, each made when it is asked for."""
        for chunk in self.chunks(include_usage):
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def _chunk(self, choices: list[dict[str, Any]], include_usage: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if include_usage:
            body["usage"] = None
        return body


def plan_chat(request: dict[str, Any], extra_words: int = 0) -> ChatPlan:
    """The answer to a valid chat request; `extra_words` ("w0 w1 ...") lengthen each text answer."""
    messages = request["messages"]
    last_user = ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            last_user = _message_text(message)
            break
    prompt_tokens = sum(words(_message_text(m)) for m in messages)
    number = next_answer_number()
    tool_name = _tool_name(request)
    choices = []
    for i in range(max(1, int(request.get("n") or 1))):
        suffix = "" if i == 0 else f".{i}"
        if tool_name is not None:
            call = {
                "id": f"call_{number}{'' if i == 0 else f'_{i}'}",
                "type": "function",
                "function": {"name": tool_name, "arguments": json.dumps({"q": last_user})},
            }
            choices.append({"content": None, "tool_call": call, "finish_reason": "tool_calls"})
        else:
            content = f"answer {number}{suffix} to: {last_user}" + "".join(f" w{n}" for n in range(extra_words))
            choices.append({"content": content, "tool_call": None, "finish_reason": "stop"})
    return ChatPlan(number, str(request["model"]), int(time.time()), prompt_tokens, choices, last_user)


def _tool_name(request: dict[str, Any]) -> str | None:
    tools = request.get("tools")
    if not isinstance(tools, list) or not tools or request.get("tool_choice") == "none":
        return None
    choice = request.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name"))
    first = tools[0] if isinstance(tools[0], dict) else {}
    function = first.get("function") if isinstance(first.get("function"), dict) else {}
    return str(function.get("name", "tool"))


def validate_chat(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    if not isinstance(request.get("model"), str) or not request["model"]:
        return openai_error(
            "Missing required parameter: 'model'.",
            "invalid_request_error",
            "model",
            "missing_required_parameter",
        )
    if not isinstance(request.get("messages"), list) or not request["messages"]:
        return openai_error(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "messages",
            "missing_required_parameter",
        )
    return None
