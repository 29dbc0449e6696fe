"""`POST /v1/embeddings`: forwarded, with an exact cache of whole answers (every field but `user` keyed) and one
metrics event each; an answer too big to cache is relayed as it arrives."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.web.request_parts import cache_headers, forwarded_headers, gateway_of, read_body, tenant_for
from gateway.web.responses import RelayedResponse, RelayedStream
from gateway.web.trace import trace_of
from gateway.wire.canonical import embeddings_key
from gateway.wire.controls import parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import validate_embeddings


async def embeddings(request: Request) -> Response:
    trace = trace_of(request, "embeddings")
    gateway = gateway_of(request)
    body = parse_json_object(await read_body(request))
    validate_embeddings(body)
    controls = parse_controls(request.headers)
    trace.model, trace.route = body["model"], controls.route
    key = embeddings_key(body, tenant=tenant_for(request, controls.route))
    recall = await gateway.policy.recall(key, controls)
    if recall.body is not None:
        trace.hit("exact", _usage_of(recall.body))
        return Response(recall.body, media_type="application/json", headers=cache_headers("hit", layer="exact"))
    state = trace.outcome = recall.state
    trace.upstream_sent()
    upstream = await gateway.upstream.send("POST", "/embeddings", headers=forwarded_headers(request),
                                           content=forwardable(body))
    payload, rest = await upstream.read_within(gateway.settings.max_entry_bytes)
    if rest is not None:  # too big to cache: relayed as it comes, never parsed on the event loop
        trace.outcome = "bypass"
        return RelayedStream.overflowing(upstream, payload, rest, cache_headers("bypass"))
    trace.upstream_done()
    if upstream.status == 200:
        trace.usage(_usage_of(payload))
        if state == "miss" and _is_embedding_list(payload):
            gateway.policy.keep(key, payload, controls)
    return RelayedResponse(upstream, payload, cache_headers(state))


def _is_embedding_list(payload: bytes) -> bool:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("data"), list)


def _usage_of(payload: bytes) -> Any:
    """The `usage` object of an embeddings answer, found from its end: parsing a whole list of vectors only
    to count its tokens would cost a hit more than its lookup did."""
    start = payload.rfind(b'"usage"')
    opening = payload.find(b"{", start) if start >= 0 else -1
    closing = payload.find(b"}", opening) if opening >= 0 else -1
    if closing < 0:
        return None
    try:
        return orjson.loads(payload[opening:closing + 1])
    except orjson.JSONDecodeError:
        return None
