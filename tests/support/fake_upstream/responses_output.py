"""The fake's Responses API answers: numbered like its chat answers ("answer N to: <the last user text>", never the
same twice in a process), a function call when a function tool is offered and not yet answered, "answer N using
<tool output>" once it is, JSON built from the schema when `text.format` asks for it, cut to `max_output_tokens`
words (an incomplete response); as one response object, or as its stream of typed, numbered SSE events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.fake_upstream.chat import next_answer_number, split_in, split_words, words
from tests.support.fake_upstream.responses_input import input_tokens, item_text, last_user_text, user_turns

FAILURE = {"code": "server_error", "message": "The model failed to generate a response."}


@dataclass
class ResponsePlan:
    """Everything needed to answer one valid request: its one output item, whole or in the making."""

    number: int
    request: dict[str, Any]
    created_at: int
    input_tokens: int
    item: dict[str, Any]  # the output item as it is when done
    prompt: str  # the last user text

    @property
    def id(self) -> str:
        return f"resp_fake_{self.number}"

    @property
    def status(self) -> str:
        return str(self.item["status"])  # "completed", or "incomplete" when cut at max_output_tokens

    def output_tokens(self) -> int:
        return words(item_text(self.item))

    def response(self, status: str | None = None) -> dict[str, Any]:
        """The response object: done (its own status), or "in_progress" / "failed" with no output yet."""
        status = status or self.status
        request = self.request
        text = request.get("text") if isinstance(request.get("text"), dict) else {}
        usage = None
        if status in ("completed", "incomplete"):
            out = self.output_tokens()
            usage = {"input_tokens": self.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": self.input_tokens + out}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": self.created_at if status == "completed" else None,
            "error": FAILURE if status == "failed" else None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "max_tool_calls": request.get("max_tool_calls"),
            "model": request["model"],
            "output": [self.item] if usage is not None else [],
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id"),
            "prompt_cache_key": request.get("prompt_cache_key"),
            "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": request.get("safety_identifier"),
            "service_tier": request.get("service_tier") or "default",
            "store": request.get("store", True) is not False,
            "temperature": request.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium", **text},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools") or [],
            "top_logprobs": request.get("top_logprobs", 0),
            "top_p": request.get("top_p", 1.0),
            "truncation": request.get("truncation", "disabled"),
            "usage": usage,
            "user": request.get("user"),
            "metadata": request.get("metadata") or {},
        }

    def events(self, fail_after: int | None = None) -> Iterator[bytes]:
        """The stream's SSE events, each made when it is asked for, numbered from 0; `fail_after`: that many, then
        `response.failed`. No `[DONE]`: the Responses API ends a stream with its last event."""
        bodies = self._event_bodies()
        for number, body in enumerate(bodies):
            if number == fail_after:
                body = {"type": "response.failed", "response": self.response("failed")}
            yield _sse({**body, "sequence_number": number})
            if number == fail_after:
                return

    def _event_bodies(self) -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": self.response("in_progress")}
        yield {"type": "response.in_progress", "response": self.response("in_progress")}
        item, at = self.item, {"item_id": self.item["id"], "output_index": 0}
        if item["type"] == "function_call":
            yield {"type": "response.output_item.added", "output_index": 0,
                   "item": {**item, "arguments": "", "status": "in_progress"}}
            for piece in split_in(item["arguments"], 3):
                yield {"type": "response.function_call_arguments.delta", **at, "delta": piece}
            yield {"type": "response.function_call_arguments.done", **at, "arguments": item["arguments"]}
        else:
            part = item["content"][0]
            yield {"type": "response.output_item.added", "output_index": 0,
                   "item": {**item, "content": [], "status": "in_progress"}}
            at["content_index"] = 0
            yield {"type": "response.content_part.added", **at, "part": {**part, "text": ""}}
            for word in split_words(part["text"]):
                yield {"type": "response.output_text.delta", **at, "delta": word, "logprobs": []}
            yield {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []}
            yield {"type": "response.content_part.done", **at, "part": part}
        yield {"type": "response.output_item.done", "output_index": 0, "item": item}
        yield {"type": f"response.{self.status}", "response": self.response()}


def _sse(body: dict[str, Any]) -> bytes:
    return f"event: {body['type']}\ndata: {json.dumps(body)}\n\n".encode()


def plan_response(request: dict[str, Any], items: list[dict[str, Any]], extra_words: int = 0) -> ResponsePlan:
    """The answer to a valid request whose conversation (stored turns, then its input) is `items`."""
    number = next_answer_number()
    prompt = last_user_text(items)
    tool = _tool_to_call(request, items)
    if tool is not None:
        schema = tool.get("parameters")
        # Arguments the tool's schema accepts (a strict tool refuses any other); a schemaless tool gets a query.
        arguments = _fill(schema, schema, prompt) if isinstance(schema, dict) and "properties" in schema else None
        item = {"type": "function_call", "id": f"fc_fake_{number}", "call_id": f"call_fake_{number}",
                "name": tool["name"], "arguments": json.dumps({"query": prompt} if arguments is None else arguments),
                "status": "completed"}
    else:
        text, status = _text(request, items, number, prompt, extra_words)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {"type": "message", "id": f"msg_fake_{number}", "status": status, "role": "assistant",
                "content": [part]}
    return ResponsePlan(number, request, int(time.time()), input_tokens(request, items), item, prompt)


def _tool_to_call(request: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any] | None:
    if items and items[-1]["type"] == "function_call_output":
        return None  # the model has what it asked for: now it answers
    tools = [t for t in request.get("tools") or [] if t.get("type") == "function"]
    choice = request.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return next(t for t in tools if t["name"] == choice["name"])
    return tools[0]


def _text(request: dict[str, Any], items: list[dict[str, Any]], number: int, prompt: str,
          extra_words: int) -> tuple[str, str]:
    if items and items[-1]["type"] == "function_call_output":
        text = f"answer {number} using {item_text(items[-1])}"
    else:
        turns = user_turns(items)
        text = f"answer {number} to: {prompt}" + (f" (turn {turns})" if turns > 1 else "")
    text += "".join(f" w{n}" for n in range(extra_words))
    form = (request.get("text") or {}).get("format") or {}
    if form.get("type") == "json_schema":
        return json.dumps(_fill(form["schema"], form["schema"], text)), "completed"
    if form.get("type") == "json_object":
        return json.dumps({"answer": text}), "completed"
    limit = request.get("max_output_tokens")
    if limit is not None and words(text) > limit:
        return " ".join(text.split()[:limit]), "incomplete"
    return text, "completed"


def _fill(schema: dict[str, Any], root: dict[str, Any], text: str, depth: int = 0) -> Any:
    """A value `schema` accepts, its strings saying `text` (what a model would write for a structured answer)."""
    if depth > 8 or not isinstance(schema, dict):
        return None
    if isinstance(schema.get("$ref"), str):
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _fill(target, root, text, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    choices = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(choices, list) and choices:
        usable = [c for c in choices if isinstance(c, dict) and c.get("type") != "null"]
        return _fill(usable[0], root, text, depth + 1) if usable else None
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required", list(properties))
        names = required if isinstance(required, list) else []
        return {n: _fill(properties[n], root, text, depth + 1) for n in names if isinstance(n, str) and n in properties}
    if kind == "array":
        items = schema.get("items")
        return [_fill(items, root, text, depth + 1)] if isinstance(items, dict) else []
    simple = {"string": text, "integer": len(text.split()), "number": float(len(text.split())), "boolean": True}
    return simple.get(kind) if isinstance(kind, str) else None
