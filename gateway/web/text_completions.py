"""`POST /v1/completions`: read the request as a legacy text completion (`gateway.wire.text_completion`) and answer
it through the cache (`gateway.web.cached_call`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.web.cached_call import answer
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.trace import trace_of
from gateway.wire.text_completion import read_text_completion


async def text_completions(request: Request) -> Response:
    trace = trace_of(request, "completions")
    gateway = gateway_of(request)
    call = read_text_completion(await read_body(request), request.headers)
    return await answer(request, gateway, call, trace, upstream=gateway.upstreams.for_model("openai", call.model))
