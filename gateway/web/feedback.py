"""`POST /v1/cache/feedback`: a client rates an entry it was served (the `x-cache-key` of a hit). A bad
rating removes the answer and tightens the entry's scope (the caller's own route, or the shared route); a good
one is evidence for loosening it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.cache.policy import Feedback
from gateway.errors import CacheUnavailable, InvalidRequest
from gateway.web.failures import failure
from gateway.web.request_parts import caller, gateway_of, read_body
from gateway.web.responses import ErrorResponse
from gateway.wire.canonical import ENTRY_ID
from gateway.wire.json_body import parse_json_object


def parse_feedback(body: dict[str, Any]) -> Feedback:
    """The rating of an entry. A `distance` the client may still send (earlier versions asked for it) is
    ignored: the gateway rates a hit at the distance it recorded serving it."""
    entry, rating = body.get("id"), body.get("rating")
    if not isinstance(entry, str) or not ENTRY_ID.fullmatch(entry):
        raise InvalidRequest("Invalid 'id': expected the x-cache-key of a hit (32 hexadecimal digits).", param="id")
    if rating not in ("good", "bad"):
        raise InvalidRequest("Invalid 'rating': expected 'good' or 'bad'.", param="rating")
    return Feedback(entry=entry, good=rating == "good")


async def cache_feedback(request: Request) -> Response:
    gateway = gateway_of(request)
    feedback = parse_feedback(parse_json_object(await read_body(request)))
    try:
        applied = await gateway.policy.rate(feedback, caller=caller(request).tenant)
    except CacheUnavailable as error:
        status, code = failure(error)
        return ErrorResponse("The cache store is unavailable; try the feedback again later.", status=status,
                             code=code)
    if not applied:
        return ErrorResponse("No cache entry with this id was served to your key.", status=404,
                              param="id", code="entry_not_found")
    return Response(status_code=204)
