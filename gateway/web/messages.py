"""`POST /v1/messages`: read the request as an Anthropic Messages call and answer it through the cache
(`gateway.web.cached_call`) from Anthropic's API; `POST /v1/messages/count_tokens`: forwarded there untouched."""

from __future__ import annotations

import contextlib
import re

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import InvalidRequest
from gateway.web.cached_call import answer
from gateway.web.passthrough import forward
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.trace import trace_of
from gateway.wire.json_body import parse_json_object
from gateway.wire.messages import read_messages

_PATH = re.compile(r"/v1/messages(/[A-Za-z0-9_-]+)+")  # no dot segments, nothing read otherwise further on


async def messages(request: Request) -> Response:
    trace = trace_of(request, "messages")
    gateway = gateway_of(request)
    call = read_messages(await read_body(request), request.headers,
                         hosted_tool_routes=gateway.settings.hosted_tool_routes)
    return await answer(request, gateway, call, trace, upstream=gateway.upstreams.for_model("anthropic", call.model))


async def other_messages_path(request: Request) -> Response:
    """Any other path below `/v1/messages` (batches...): Anthropic's, forwarded to its default upstream."""
    gateway = gateway_of(request)
    path = request.url.path
    if not _PATH.fullmatch(path):
        raise InvalidRequest(f"Invalid URL (the path {path[:200]!r} is not allowed).", code="invalid_url", status=404)
    return await forward(request, gateway.upstreams.default("anthropic"), path)


async def count_tokens(request: Request) -> Response:
    """Sent to the upstream that serves the model it names (a body it cannot read: to the default one, whose
    answer says what is wrong)."""
    gateway = gateway_of(request)
    raw = await read_body(request)
    model = None
    with contextlib.suppress(InvalidRequest):
        model = parse_json_object(raw).get("model")
    upstream = gateway.upstreams.for_model("anthropic", model) if isinstance(model, str) else \
        gateway.upstreams.default("anthropic")
    return await forward(request, upstream, "/v1/messages/count_tokens", content=raw)
