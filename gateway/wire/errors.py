"""OpenAI's error shape, whole and as an SSE event: what every OpenAI-compatible endpoint answers a failure with,
so the SDKs raise their usual exception classes. Another API's endpoints answer in their own (`ErrorShape`)."""

from __future__ import annotations

from typing import Protocol

import orjson

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error"}


def error_body(message: str, *, status: int, param: str | None = None, code: str | None = None) -> bytes:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def error_event(message: str, *, status: int, code: str) -> bytes:
    """The error, mid-stream: an answer that broke off after its 200 went out."""
    return b"data: " + error_body(message, status=status, code=code) + b"\n\n"


class ErrorShape(Protocol):
    """How one API's clients are told of a failure, whole and mid-stream."""

    def body(self, message: str, *, status: int, param: str | None = None, code: str | None = None) -> bytes: ...

    def event(self, message: str, *, status: int, code: str) -> bytes: ...


class OpenAIErrors:
    body = staticmethod(error_body)
    event = staticmethod(error_event)


OPENAI_ERRORS = OpenAIErrors()
