"""`GET /v1/models`: with a routing table, the union of every upstream's models (`gateway.wire.model_lists`), so a
client sees every model it can ask for; an upstream that does not answer is left out, and when none lists any,
the default upstream's answer says why. Without a table, forwarded."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.upstream import UpstreamResponse
from gateway.upstreams import Upstream
from gateway.web.passthrough import passthrough
from gateway.web.request_parts import forwarded_headers, gateway_of
from gateway.web.responses import JSONResponse, RelayedResponse
from gateway.wire.model_lists import models_in, union

_MAX_LIST_BYTES = 4 << 20  # far above any provider's list


async def _listed(request: Request, upstream: Upstream) -> tuple[UpstreamResponse, bytes]:
    path = "/v1/models" if upstream.api == "anthropic" else "/models"
    sent = await upstream.client.send("GET", path, headers=forwarded_headers(request, upstream))
    body, rest = await sent.read_within(_MAX_LIST_BYTES)
    if rest is not None:
        await sent.close()
        return sent, b""  # no list is that long: read as none
    return sent, body


async def list_models(request: Request) -> Response:
    upstreams = gateway_of(request).upstreams
    if not upstreams.routed:
        return await passthrough(request)
    listing = upstreams.listing()
    answers = await asyncio.gather(*(_listed(request, upstream) for upstream in listing), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, GatewayError):
            raise answer
    listed = [models_in(answer[1], owner=upstream.name) for upstream, answer in zip(listing, answers, strict=True)
              if isinstance(answer, tuple) and answer[0].status == 200]
    if not any(listed):
        first = answers[0]
        if isinstance(first, BaseException):
            raise first
        return RelayedResponse(first[0], first[1], {})
    return JSONResponse(union(listed))
