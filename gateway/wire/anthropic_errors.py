"""Anthropic's error shape, whole and as an SSE event (`event: error`, which the Anthropic SDKs raise as the
exception class of its type), for what the gateway itself answers on Anthropic's paths."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.wire import sse

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
          404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
          504: "timeout_error", 529: "overloaded_error"}


def _error(message: str, status: int) -> dict[str, Any]:
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


class AnthropicErrors:
    """`{"type": "error", "error": {"type", "message"}}`: Anthropic's errors name no parameter and no code."""

    @staticmethod
    def body(message: str, *, status: int, param: str | None = None, code: str | None = None) -> bytes:
        return orjson.dumps(_error(message, status))

    @staticmethod
    def event(message: str, *, status: int, code: str) -> bytes:
        return sse.encode_named("error", _error(message, status))


ANTHROPIC_ERRORS = AnthropicErrors()
