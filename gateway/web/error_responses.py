"""The one boundary where the gateway's exceptions become HTTP answers in OpenAI's error shape (on Anthropic's
paths, in Anthropic's: `gateway.web.dialects`), so each API's SDK raises its usual exception classes."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import (
    CacheUnavailable,
    EmbedderError,
    EventTooLong,
    FlightFailed,
    GatewayError,
    InvalidRequest,
    NotEmbeddable,
    SettingsError,
    SinkError,
    StartupError,
    StoreError,
    Uncacheable,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.web.dialects import errors_for
from gateway.web.responses import ErrorResponse
from gateway.web.trace import CLIENT_GONE

log = logging.getLogger("latency_slayer.web")

# Every exception of `gateway.errors`, by class, and what a client gets when one ends a request. Those marked
# "never" are handled before any answer (a bypass, another upstream call, a start-up refusal); should one reach
# the boundary anyway, the client still gets an answer in OpenAI's shape, and a test keeps this table whole.
STATUSES: dict[type[GatewayError], tuple[int, str]] = {
    InvalidRequest: (400, "invalid_request"),  # its own status and code win
    UpstreamTimeout: (504, "upstream_timeout"),
    UpstreamUnreachable: (502, "upstream_unreachable"),
    UpstreamProtocolError: (502, "upstream_protocol_error"),
    EventTooLong: (502, "upstream_protocol_error"),
    UpstreamError: (502, "upstream_error"),
    FlightFailed: (504, "upstream_timeout"),  # a follower whose leader's answer stopped arriving
    CacheUnavailable: (503, "cache_unavailable"),  # never: the request bypasses the cache
    StoreError: (503, "store_unavailable"),  # never on a request (a bypass); the admin endpoints answer it
    EmbedderError: (503, "cache_unavailable"),  # never: the request bypasses the cache
    NotEmbeddable: (503, "cache_unavailable"),  # never: the request is served from the exact layer only
    SinkError: (503, "metrics_unavailable"),  # never: events are dropped and counted
    Uncacheable: (500, "internal_error"),  # never: the request bypasses the cache
    SettingsError: (500, "internal_error"),  # never: start-up stops
    StartupError: (500, "internal_error"),  # never: start-up stops
    GatewayError: (500, "internal_error"),
}


def failure(error: GatewayError) -> tuple[int, str]:
    """The status and code a client gets for `error`."""
    if isinstance(error, InvalidRequest):
        return error.status, error.code or STATUSES[InvalidRequest][1]
    return next(STATUSES[kind] for kind in type(error).__mro__ if kind in STATUSES)


async def on_gateway_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    status, code = failure(error)
    headers = {"x-cache": "bypass"}
    errors = errors_for(request.url.path)
    if isinstance(error, InvalidRequest):
        if error.status in (408, 413):
            headers["connection"] = "close"  # the rest of the body may still be on its way
        return ErrorResponse(error.message, status=status, param=error.param, code=error.code, headers=headers,
                             errors=errors)
    if status >= 500 and not isinstance(error, UpstreamError | FlightFailed):
        log.error("%s on %s %s: %s", type(error).__name__, request.method, request.url.path, error)
    return ErrorResponse(str(error), status=status, code=code, headers=headers, errors=errors)


async def on_client_gone(request: Request, error: Exception) -> Response:
    """The client hung up while sending its body: nobody is left to read an answer, and it is no server error.
    The status is the one the request's event records (nginx's "client closed request")."""
    return Response(status_code=CLIENT_GONE, headers={"connection": "close"})


async def on_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = {404: f"Unknown request URL: {request.method} {request.url.path}.",
               405: f"Method {request.method} is not allowed for {request.url.path}."}.get(
        error.status_code, str(error.detail))
    return ErrorResponse(message, status=error.status_code, code="unknown_url" if error.status_code == 404 else None,
                         errors=errors_for(request.url.path))


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return ErrorResponse("The gateway failed unexpectedly; the error is logged.", status=500,
                         code="internal_error", errors=errors_for(request.url.path))


HANDLERS = {
    ClientDisconnect: on_client_gone,
    GatewayError: on_gateway_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
