"""A simulated OpenAI-compatible API for `latency-slayer demo`: chat completions answered after a model-like
delay (streamed or whole, usage included), with no key and no network. Served on loopback by the demo."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

_SENTENCES = (
    "Open Settings and choose the section named after what you want to change.",
    "The change applies at once to every device signed in to the account.",
    "If the option is greyed out, an administrator of the workspace has locked it.",
    "You will receive a confirmation email; follow the link in it within 24 hours.",
    "Nothing already saved is lost, and you can undo this later from the same page.",
    "Requests over the limit are answered with status 429 and a Retry-After header.",
    "For automation, the same action is available through the REST API.",
    "Prices are per seat and billed monthly unless annual billing is chosen.",
    "Contact support with the request id from the error message if it persists.",
    "The audit log records who made the change and when.",
)
_WORDS_PER_TOKEN = 0.75  # English averages about four characters, three quarters of a word, per token


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) / _WORDS_PER_TOKEN))


def _answer(prompt: str) -> str:
    """A plausible answer of 4-10 sentences, always the same for the same prompt."""
    chooser = random.Random(hashlib.blake2b(prompt.encode(), digest_size=8).digest())
    count = chooser.randint(4, 10)
    return " ".join(chooser.choice(_SENTENCES) for _ in range(count))


def _prompt_of(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else ""
    return content if isinstance(content, str) else ""


def _event(base: dict[str, Any], choices: list[dict[str, Any]], **extra: Any) -> bytes:
    return b"data: " + orjson.dumps({**base, "object": "chat.completion.chunk", "choices": choices, **extra}) + b"\n\n"


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _event(base, [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])


def simulated_upstream(latency_ms: int, *, seed: int = 0) -> Starlette:
    """The app; each answer takes `latency_ms` give or take 30%, streams spread it over their chunks."""
    jitter = random.Random(seed)

    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        prompt = _prompt_of(body)
        text = _answer(prompt)
        usage = {"prompt_tokens": 12 + _tokens(prompt), "completion_tokens": _tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": f"chatcmpl-sim-{time.time_ns()}", "created": int(time.time()), "model": body.get("model")}
        delay = latency_ms / 1000 * jitter.uniform(0.7, 1.3)
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_stream(base, text, usage if with_usage else None, delay),
                                     media_type="text/event-stream")
        await asyncio.sleep(delay)
        message = {"role": "assistant", "content": text, "refusal": None}
        completion = {**base, "object": "chat.completion", "usage": usage, "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}
        return Response(orjson.dumps(completion), media_type="application/json")

    async def models(request: Request) -> Response:
        names = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "simulated"} for name in names]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])])


async def _stream(base: dict[str, Any], text: str, usage: dict[str, int] | None, delay: float) -> AsyncIterator[bytes]:
    """Like a model: a first token after ~30% of the time, then words as they are generated."""
    await asyncio.sleep(delay * 0.3)
    yield _chunk(base, {"role": "assistant", "content": ""})
    words = text.split(" ")
    step = delay * 0.7 / len(words)
    for index, word in enumerate(words):
        await asyncio.sleep(step)
        yield _chunk(base, {"content": word if index == 0 else " " + word})
    yield _chunk(base, {}, "stop")
    if usage is not None:
        yield _event(base, [], usage=usage)
    yield b"data: [DONE]\n\n"
