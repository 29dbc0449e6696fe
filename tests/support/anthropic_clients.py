"""A served gateway as an Anthropic app meets it: the official `anthropic` SDK pointed at the gateway, one message,
one stream, with the prompts most tests ask (`tests.support.clients`)."""

from __future__ import annotations

import anthropic
import httpx

from tests.support.clients import PROMPT

MODEL = "claude-sonnet-4-5"
BODY = {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}
TOOLS = [{"name": "search_kb", "description": "Search the knowledge base.",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]


def claude(gateway, key: str | None = "sk-ant-client-one", **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, default_headers=headers or None, max_retries=0)


def message(gateway, prompt: str = PROMPT, *, key: str | None = "sk-ant-client-one", headers: dict | None = None,
            history: list | None = None, **params):
    """One non-streamed call; returns (x-cache state, headers, message) after cache writes settled."""
    raw = claude(gateway, key).messages.with_raw_response.create(
        model=params.pop("model", MODEL), max_tokens=params.pop("max_tokens", 256),
        messages=[*(history or []), {"role": "user", "content": prompt}], extra_headers=headers, **params)
    gateway.drain()
    return raw.headers.get("x-cache"), raw.headers, raw.parse()


def streamed(gateway, prompt: str = PROMPT, *, key: str | None = "sk-ant-client-one", headers: dict | None = None,
             **params):
    """One `messages.stream` call; returns (x-cache state, its events, the final message)."""
    with claude(gateway, key).messages.stream(
            model=params.pop("model", MODEL), max_tokens=params.pop("max_tokens", 256),
            messages=[{"role": "user", "content": prompt}], extra_headers=headers, **params) as stream:
        state = stream.response.headers.get("x-cache")
        events = list(stream)
        final = stream.get_final_message()
    gateway.drain()
    return state, events, final


def post(gateway, body: dict | bytes = BODY, *, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    """One raw call, read whole: any credential form, any body (`x-api-key` for a key), `anthropic-version`
    2023-06-01 unless told otherwise."""
    sent = {"anthropic-version": "2023-06-01", **{name.replace("_", "-"): value for name, value in headers.items()}}
    content = body if isinstance(body, bytes) else None
    response = httpx.post(f"{gateway.url}{path}", json=None if content else body, content=content, headers=sent,
                          timeout=10)
    gateway.drain()
    return response


def text_of(reply) -> str:
    return "".join(block.text for block in reply.content if block.type == "text")
