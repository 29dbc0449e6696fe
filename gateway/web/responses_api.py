"""The Responses API: `POST /v1/responses` answered through the cache (`gateway.web.cached_call`), and the ids
the gateway issues for cached answers (`gateway.wire.responses_api`): a request naming one as its
`previous_response_id` goes upstream with that conversation written out, and `GET /v1/responses/{id}` (with its
`/input_items`) and `DELETE` of one are answered by the gateway; every other id is the upstream's."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import InvalidRequest
from gateway.web.access import account_denied
from gateway.web.cached_call import answer
from gateway.web.passthrough import passthrough
from gateway.web.request_parts import caller, gateway_of, read_body
from gateway.web.responses import JSONResponse
from gateway.web.trace import trace_of
from gateway.wire.responses_api import Served, chained, input_items, read_responses, served_record

# What an id the gateway may have issued looks like; anything else (a megabyte of id, say) is never looked up.
_RESPONSE_ID = re.compile(r"resp_[0-9A-Za-z]{1,64}")


def _noted_as(tenant: str, response_id: str) -> str:
    return f"responses:{tenant}:{response_id}"


async def _served(request: Request, response_id: str) -> Served | None:
    """What the gateway served its caller under `response_id`, if it issued that id to that caller."""
    if not _RESPONSE_ID.fullmatch(response_id):
        return None
    raw = await gateway_of(request).policy.noted(_noted_as(caller(request).tenant, response_id))
    return Served.loads(raw) if raw is not None else None


async def create_response(request: Request) -> Response:
    trace = trace_of(request, "responses")
    gateway = gateway_of(request)
    settings = gateway.settings
    call = read_responses(await read_body(request), request.headers, default_model=settings.gen_model,
                          hosted_tool_routes=settings.hosted_tool_routes)
    if call.previous_id is not None and (earlier := await _served(request, call.previous_id)) is not None:
        call = chained(call, earlier)

    async def keep(cached: dict[str, Any]) -> None:
        if call.asked.get("store") is not False and call.controls.store:  # kept as the upstream would keep it
            await gateway.policy.note(_noted_as(caller(request).tenant, call.served_id),
                                      served_record(call, cached).dumps(), ttl_secs=settings.responses_keep_secs)

    return await answer(request, gateway, call, trace, upstream=gateway.upstream, served=keep)


async def _held(request: Request) -> Served | Response:
    served = await _served(request, request.path_params["response_id"])
    if served is not None:
        return served
    if not caller(request).account_wide:
        raise InvalidRequest(account_denied(request.method, request.url.path), code="account_endpoint_denied",
                             status=403)
    return await passthrough(request)


async def retrieve_response(request: Request) -> Response:
    held = await _held(request)
    return held if isinstance(held, Response) else JSONResponse(held.response)


async def list_input_items(request: Request) -> Response:
    held = await _held(request)
    return held if isinstance(held, Response) else JSONResponse(input_items(held))


async def delete_response(request: Request) -> Response:
    held = await _held(request)
    if isinstance(held, Response):
        return held
    response_id = held.response.get("id")
    # What was kept is overwritten with nothing, which reads as never kept: the id is then unknown, as upstream.
    await gateway_of(request).policy.note(_noted_as(caller(request).tenant, request.path_params["response_id"]), b"",
                                          ttl_secs=60)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})
