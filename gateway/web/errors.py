"""The one boundary where the gateway's exceptions become HTTP answers in OpenAI's error shape, so the
OpenAI SDK raises its usual exception classes."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from gateway.wire.requests import InvalidRequest

log = logging.getLogger("latency_slayer.web")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
          405: "invalid_request_error", 413: "invalid_request_error"}


def error_body(message: str, *, status: int, param: str | None = None, code: str | None = None) -> bytes:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def error_response(message: str, *, status: int, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(message, status=status, param=param, code=code), status_code=status,
                    media_type="application/json", headers=headers)


def upstream_failure(error: UpstreamError) -> tuple[int, str]:
    if isinstance(error, UpstreamTimeout):
        return 504, "upstream_timeout"
    if isinstance(error, UpstreamUnreachable):
        return 502, "upstream_unreachable"
    return 502, "upstream_protocol_error"


async def on_invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, InvalidRequest)
    headers = {"x-cache": "bypass"}
    if error.status in (408, 413):
        headers["connection"] = "close"  # the rest of the body may still be on its way
    return error_response(error.message, status=error.status, param=error.param, code=error.code,
                          headers=headers)


async def on_client_gone(request: Request, error: Exception) -> Response:
    """The client hung up while sending its body: nobody is left to answer, and it is no server error."""
    return Response(status_code=400, headers={"connection": "close"})


async def on_upstream_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, UpstreamError)
    status, code = upstream_failure(error)
    return error_response(str(error), status=status, code=code, headers={"x-cache": "bypass"})


async def on_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = {404: f"Unknown request URL: {request.method} {request.url.path}.",
               405: f"Method {request.method} is not allowed for {request.url.path}."}.get(
        error.status_code, str(error.detail))
    return error_response(message, status=error.status_code, code="unknown_url" if error.status_code == 404 else None)


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response("The gateway failed unexpectedly; the error is logged.", status=500,
                          code="internal_error")


HANDLERS = {
    ClientDisconnect: on_client_gone,
    InvalidRequest: on_invalid_request,
    UpstreamError: on_upstream_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
