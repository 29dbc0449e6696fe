"""The one boundary where the gateway's exceptions become HTTP answers in OpenAI's error shape (on Anthropic's
paths, in Anthropic's: `gateway.web.dialects`), so each API's SDK raises its usual exception classes."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import CacheUnavailable, FlightFailed, GatewayError, InvalidRequest, UpstreamError
from gateway.web.dialects import errors_for
from gateway.web.failures import failure
from gateway.web.responses import ErrorResponse
from gateway.web.trace import CLIENT_GONE

log = logging.getLogger("latency_slayer.web")


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
    # The upstream's failures are its own; the cache's outages are logged once by their guard, not per request.
    if status >= 500 and not isinstance(error, UpstreamError | FlightFailed | CacheUnavailable):
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
