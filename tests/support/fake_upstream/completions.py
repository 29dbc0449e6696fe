"""The fake's legacy text completions (`POST /v1/completions`), in OpenAI's format: for each prompt of the request
(a string, an array of strings, tokens or token arrays), `n` numbered answers ("answer N to: <the prompt>", never
the same twice in a process, sharing the chat answers' count), cut at `max_tokens` words (16 unless given, as
OpenAI's default) with finish reason "length"; the prompt first with `echo`; word log probabilities with
`logprobs`; whole or streamed one `text_completion` chunk per word, then a chunk with each choice's finish reason,
the usage chunk when asked, and `[DONE]`. And the errors OpenAI gives for a request without a model or prompt."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.fake_upstream.chat import next_answer_number, split_words, words
from tests.support.fake_upstream.shapes import openai_error

DEFAULT_MAX_TOKENS = 16


def _prompts(prompt: Any) -> list[str]:
    """Each prompt of the request as text (token arrays as "tokens 1 2 3")."""
    if isinstance(prompt, str):
        return [prompt]
    if _is_tokens(prompt):
        return [_tokens_text(prompt)]
    return [item if isinstance(item, str) else _tokens_text(item) for item in prompt]


def _tokens_text(tokens: list[Any]) -> str:
    return "tokens " + " ".join(str(token) for token in tokens)


def _logprobs(text: str, offset: int) -> dict[str, Any]:
    pieces = split_words(text)
    starts = [offset + sum(len(piece) for piece in pieces[:at]) for at in range(len(pieces))]
    return {"tokens": pieces, "token_logprobs": [-0.25] * len(pieces),
            "top_logprobs": [{piece: -0.25} for piece in pieces], "text_offset": starts}


@dataclass
class CompletionPlan:
    """Everything needed to answer one legacy completions request, streamed or not."""

    number: int
    model: str
    created: int
    prompt_tokens: int
    choices: list[dict[str, Any]]  # {"text", "index", "logprobs", "finish_reason"}, as sent whole
    prompt: str  # the first prompt's text

    def usage(self) -> dict[str, int]:
        completion = sum(words(choice["text"]) for choice in self.choices)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}

    def _head(self) -> dict[str, Any]:
        return {"id": f"cmpl-fake-{self.number}", "object": "text_completion", "created": self.created,
                "model": self.model, "system_fingerprint": "fp_fake"}

    def completion(self) -> dict[str, Any]:
        return {**self._head(), "choices": self.choices, "usage": self.usage()}

    def events(self, include_usage: bool) -> Iterator[bytes]:
        """The stream's SSE events, [DONE] last, each made when it is asked for."""
        extra = {"usage": None} if include_usage else {}
        for choice in self.choices:
            logprobs = choice["logprobs"]
            for at, piece in enumerate(split_words(choice["text"])):
                part = None if logprobs is None else {name: values[at:at + 1] for name, values in logprobs.items()}
                chunk = {"text": piece, "index": choice["index"], "logprobs": part, "finish_reason": None}
                yield _event({**self._head(), "choices": [chunk], **extra})
            end = {"text": "", "index": choice["index"], "logprobs": None, "finish_reason": choice["finish_reason"]}
            yield _event({**self._head(), "choices": [end], **extra})
        if include_usage:
            yield _event({**self._head(), "choices": [], "usage": self.usage()})
        yield b"data: [DONE]\n\n"


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def plan_completion(request: dict[str, Any], extra_words: int = 0) -> CompletionPlan:
    """The answer to a valid legacy completions request; `extra_words` ("w0 w1 ...") lengthen each answer."""
    prompts = _prompts(request["prompt"])
    number = next_answer_number()
    limit = request.get("max_tokens")
    limit = DEFAULT_MAX_TOKENS if limit is None else int(limit)
    echo, logprobs = bool(request.get("echo")), request.get("logprobs") is not None
    choices = []
    for at, prompt in enumerate(prompts):
        for copy in range(max(1, int(request.get("n") or 1))):
            suffix = "" if at == copy == 0 else f".{at}.{copy}"
            made = f"answer {number}{suffix} to: {prompt}" + "".join(f" w{n}" for n in range(extra_words))
            kept = split_words(made)[:limit]
            text = (prompt if echo else "") + "".join(kept)
            choices.append({"text": text, "index": len(choices),
                            "logprobs": _logprobs(text, 0 if echo else len(prompt)) if logprobs else None,
                            "finish_reason": "length" if len(kept) < len(split_words(made)) else "stop"})
    return CompletionPlan(number, str(request["model"]), int(time.time()), sum(words(p) for p in prompts), choices,
                          prompts[0])


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(token, int) and not isinstance(token, bool) for token in value)


def _valid_prompt(prompt: Any) -> bool:
    return isinstance(prompt, str) or _is_tokens(prompt) or (isinstance(prompt, list) and bool(prompt) and (
        all(isinstance(item, str) for item in prompt) or all(_is_tokens(item) for item in prompt)))


def validate_completion(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    for name in ("model", "prompt"):
        if request.get(name) is None or request.get(name) == [] or (name == "model" and not request[name]):
            return openai_error(f"Missing required parameter: '{name}'.", "invalid_request_error", name,
                                "missing_required_parameter")
    for name in ("max_tokens", "n"):
        value = request.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            return openai_error(f"Invalid type for '{name}': expected an integer.", "invalid_request_error", name,
                                "invalid_type")
    if not _valid_prompt(request["prompt"]):
        return openai_error("Invalid prompt: expected a string, an array of strings, an array of tokens or an "
                            "array of token arrays.", "invalid_request_error", "prompt", "invalid_type")
    return None
