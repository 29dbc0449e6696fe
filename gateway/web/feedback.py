"""`POST /v1/cache/feedback`: a client rates an entry it was served (the `x-cache-key` of a hit). A bad
rating removes the answer and tightens the entry's route; a good one is evidence for loosening it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.cache.learning import Feedback
from gateway.errors import GatewayError
from gateway.web.context import caller, gateway_of, read_body
from gateway.web.errors import error_response
from gateway.wire.canonical import SHARED_TENANT
from gateway.wire.requests import InvalidRequest, parse_json_object


def parse_feedback(body: dict[str, Any]) -> Feedback:
    entry, rating, distance = body.get("id"), body.get("rating"), body.get("distance")
    if not isinstance(entry, str) or not entry:
        raise InvalidRequest("Missing required parameter: 'id' (the x-cache-key of the hit).", param="id")
    if rating not in ("good", "bad"):
        raise InvalidRequest("Invalid 'rating': expected 'good' or 'bad'.", param="rating")
    if distance is not None and (isinstance(distance, bool) or not isinstance(distance, (int, float))
                                 or not 0 <= distance <= 2):
        raise InvalidRequest("Invalid 'distance': expected the x-cache-distance of the hit (0 to 2).",
                             param="distance")
    return Feedback(entry=entry, good=rating == "good", distance=None if distance is None else float(distance))


async def cache_feedback(request: Request) -> Response:
    gateway = gateway_of(request)
    feedback = parse_feedback(parse_json_object(await read_body(request)))
    tenant = caller(request).tenant
    learning = gateway.policy.learning
    try:
        applied = await gateway.policy.store_guard.call(
            lambda: learning.feedback(feedback, tenant=tenant, shared=SHARED_TENANT))
    except GatewayError:
        return error_response("The cache store is unavailable; try the feedback again later.", status=503,
                              code="store_unavailable")
    if not applied:
        return error_response("No cache entry with this id was served to your key.", status=404,
                              param="id", code="entry_not_found")
    return Response(status_code=204)
