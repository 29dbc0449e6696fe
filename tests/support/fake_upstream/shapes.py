"""What the fake's answers look like on the wire, apart from chat, completions and embeddings: its paths and model list,
OpenAI's error shape (the injected failures' default bodies among them), and the `data:` payloads of an SSE body as
a test reads it by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
RESPONSES_PATH = "/v1/responses"
MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


def openai_error(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def default_error(status: int) -> dict[str, Any]:
    kinds = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("invalid_request_error", None),
        404: ("invalid_request_error", None),
        429: ("requests", "rate_limit_exceeded"),
    }
    type_, code = kinds.get(status, ("server_error", None))
    return openai_error(f"Injected failure with status {status}.", type_, None, code)


def models(names: tuple[str, ...] = MODELS) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for m in names]
    return {"object": "list", "data": data}


def iter_sse_data(raw: bytes) -> Iterator[str]:
    """The `data:` payloads of a raw SSE body, for tests that read a stream by hand."""
    for block in raw.decode("utf-8").split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                yield line[5:].strip()
