"""The Responses API: `POST /v1/responses` answered through the cache (`gateway.web.cached_call`), and the ids
the gateway issues for the answers it serves itself (`gateway.wire.issued_responses`: cached answers, and an identical
request's answer): what was served under one is kept for its caller, so a request naming it as its
`previous_response_id` goes upstream with that conversation written out, and `GET /v1/responses/{id}` (with its
`/input_items`) and `DELETE` of one are answered by the gateway; every other id is the upstream's."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import CacheUnavailable, InvalidRequest
from gateway.web.access import account_denied
from gateway.web.cached_call import answer
from gateway.web.passthrough import passthrough
from gateway.web.request_parts import caller, gateway_of, read_body
from gateway.web.responses import JSONResponse
from gateway.web.trace import trace_of
from gateway.wire.issued_responses import Served, input_items, kept_as, kept_names, restored
from gateway.wire.response_events import answer_in
from gateway.wire.responses_api import ResponsesRequest, chained, read_responses


async def _served(request: Request, response_id: str) -> Served | None:
    """What the gateway served its caller under `response_id`, if it issued that id to that caller."""
    names = kept_names(caller(request).tenant, response_id)
    if names is None:  # an id the gateway never issues: the upstream's
        return None
    return restored(response_id, *await gateway_of(request).policy.noted(names))


class _Kept:
    """A Responses request's answers served by the gateway (`gateway.web.cached_call.Reissued`), each kept
    under the id it is served with: the upstream keeps what it answers unless told `store: false`; so does the
    gateway (`Cache-Control: no-store` concerns the cache, not this)."""

    def __init__(self, request: Request, call: ResponsesRequest) -> None:
        self._request, self._call = request, call

    answer_in = staticmethod(answer_in)

    def served(self, whole: dict[str, Any], raw: bytes) -> None:
        issued = self._call.issue(whole, raw)
        if self._call.asked.get("store") is False:
            return
        gateway = gateway_of(self._request)
        tenant = caller(self._request).tenant
        gateway.policy.note(issued.kept_under(tenant), ttl_secs=gateway.settings.responses_keep_secs)


async def create_response(request: Request) -> Response:
    trace = trace_of(request, "responses")
    gateway = gateway_of(request)
    settings = gateway.settings
    call = read_responses(await read_body(request), request.headers, default_model=settings.gen_model,
                          hosted_tool_routes=settings.hosted_tool_routes)
    if call.previous_id is not None and (earlier := await _served(request, call.previous_id)) is not None:
        call = chained(call, earlier)
    return await answer(request, gateway, call, trace, upstream=gateway.upstreams.for_model("openai", call.model),
                        reissued=_Kept(request, call))


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
    response_id = request.path_params["response_id"]
    gateway = gateway_of(request)
    # What was kept stays for other ids served the same answer; this id is marked deleted for as long as it lasts.
    deleted = kept_as(caller(request).tenant, "deleted:" + response_id)
    if not await gateway.policy.note_now([(deleted, b"")], ttl_secs=gateway.settings.responses_keep_secs):
        raise CacheUnavailable("The response could not be deleted now; try again.")
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})
