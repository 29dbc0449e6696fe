"""`POST /v1/messages`: read the request as an Anthropic Messages call and answer it through the cache
(`gateway.web.cached_call`) from Anthropic's API; `POST /v1/messages/count_tokens`: forwarded there untouched."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.web.cached_call import answer
from gateway.web.passthrough import forward
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.trace import trace_of
from gateway.wire.messages import read_messages


async def messages(request: Request) -> Response:
    trace = trace_of(request, "messages")
    gateway = gateway_of(request)
    call = read_messages(await read_body(request), request.headers)
    return await answer(request, gateway, call, trace, upstream=gateway.anthropic)


async def count_tokens(request: Request) -> Response:
    return await forward(request, gateway_of(request).anthropic, "/v1/messages/count_tokens")
