"""A served gateway's clients, as the tests meet it: the official OpenAI SDK (one call, one stream, the prompts
most tests ask) and a feedback rating over plain HTTP."""

from __future__ import annotations

import httpx
import openai

PROMPT = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
UNRELATED = "What is the capital of France?"
TOOLS = [{"type": "function", "function": {"name": "search_kb", "parameters": {"type": "object"}}}]


def client(gateway, key: str = "sk-client-one", **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, default_headers=headers or None, max_retries=0)


def ask(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", headers: dict | None = None,
        model: str = "gpt-4o-mini", history: list | None = None, **params):
    """One non-streamed call; returns (x-cache state, headers, completion) after cache writes settled."""
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model=model, messages=[*(history or []), {"role": "user", "content": prompt}],
        extra_headers=headers, **params)
    gateway.drain()
    return raw.headers.get("x-cache"), raw.headers, raw.parse()


def stream(gateway, prompt: str = PROMPT, *, key: str = "sk-client-one", **params):
    """One streamed call; returns (x-cache state, list of chunks)."""
    with client(gateway, key).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True, **params) as raw:
        chunks = list(raw.parse())
        state = raw.headers.get("x-cache")
    gateway.drain()
    return state, chunks


def text_of(chunks) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def rate(gateway, body: dict, key: str = "sk-client-one") -> httpx.Response:
    """`POST /v1/cache/feedback` with `body`, as the caller of `key`."""
    return httpx.post(f"{gateway.base_url}/cache/feedback", json=body, headers={"authorization": f"Bearer {key}"})
