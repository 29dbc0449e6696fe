"""`GET /v1/models`: with a routing table, the union of every upstream's models (`gateway.wire.model_lists`), so a
client sees every model it can ask for; an upstream that does not answer within `LIST_SECS` is left out, and when
none lists any, the default upstream's answer says why. A provider is asked with its own key, or none: a caller
listing models has chosen none of them to send its credential to. `GET /v1/models/{model}` goes to the upstream
that serves the model. Without a table, both are forwarded."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError, UpstreamTimeout
from gateway.upstream import UpstreamResponse
from gateway.upstreams import Upstream
from gateway.web.passthrough import forward, passthrough, upstream_path
from gateway.web.request_parts import forwarded_headers, gateway_of
from gateway.web.responses import JSONResponse, RelayedResponse
from gateway.wire.model_lists import models_in, union

_MAX_LIST_BYTES = 4 << 20  # far above any provider's list
LIST_SECS = 5.0  # a model picker waits for the list: one slow provider must not hold it for its whole timeout
_ANTHROPIC_VERSION = (b"anthropic-version", b"2023-06-01")  # Anthropic answers nothing without one


async def _listed(request: Request, upstream: Upstream) -> tuple[UpstreamResponse, bytes]:
    headers = forwarded_headers(request, upstream, own_credential=False)
    path = "/models"
    if upstream.api == "anthropic":
        path = "/v1/models"
        if not any(name.lower() == _ANTHROPIC_VERSION[0] for name, _ in headers):
            headers.append(_ANTHROPIC_VERSION)
    sent = await upstream.client.send("GET", path, headers=headers)
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
    tasks = [asyncio.ensure_future(_listed(request, upstream)) for upstream in listing]
    _, late = await asyncio.wait(tasks, timeout=LIST_SECS)
    for task in late:
        task.cancel()
    answers = [task.exception() or task.result() if task not in late else UpstreamTimeout("late") for task in tasks]
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, GatewayError):
            raise answer
    # Each upstream lists the models requests for them are sent to it: one it lists that routes elsewhere is not.
    listed = [[model for model in models_in(answer[1], owner=upstream.name)
               if upstreams.for_model(upstream.api, model["id"]) is upstream]
              for upstream, answer in zip(listing, answers, strict=True)
              if isinstance(answer, tuple) and answer[0].status == 200]
    if not any(listed):
        first = answers[0]
        if isinstance(first, BaseException):
            raise first
        return RelayedResponse(first[0], first[1], {})
    return JSONResponse(union(listed))


async def retrieve_model(request: Request) -> Response:
    upstream = gateway_of(request).upstreams.for_model("openai", request.path_params["model"])
    return await forward(request, upstream, upstream_path(request))
