"""The other endpoints: `/v1/embeddings` with an exact cache (one metrics event each), every other
`/v1/...` forwarded untouched (method, query, body, status, headers, streamed bodies), and `/healthz`."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import CacheUnavailable, InvalidRequest
from gateway.web import relay
from gateway.web.body import declared_length
from gateway.web.context import (
    body_stream,
    cache_headers,
    forwarded_headers,
    gateway_of,
    read_body,
    tenant_for,
)
from gateway.web.trace import Trace, observed
from gateway.wire.canonical import embeddings_key
from gateway.wire.controls import parse_controls
from gateway.wire.json_body import forwardable, parse_json_object
from gateway.wire.requests import validate_embeddings


@observed("embeddings")
async def embeddings(request: Request, trace: Trace) -> Response:
    gateway = gateway_of(request)
    body = parse_json_object(await read_body(request))
    validate_embeddings(body)
    controls = parse_controls(request.headers)
    trace.model, trace.route = body["model"], controls.route
    key: str | None = embeddings_key(body, tenant=tenant_for(request, controls.route))
    try:
        cached = await gateway.policy.recall_blob(key) if controls.lookup and key else None
    except CacheUnavailable:
        key, cached = None, None
    if cached is not None:
        trace.hit("exact", _usage_of(cached))
        return Response(cached, media_type="application/json", headers=cache_headers("hit", layer="exact"))
    state = trace.outcome = "miss" if key else "bypass"
    trace.upstream_sent()
    upstream = await gateway.upstream.send("POST", "/embeddings", headers=forwarded_headers(request),
                                           content=forwardable(body))
    payload, rest = await upstream.read_within(gateway.settings.max_entry_bytes)
    if rest is not None:  # too big to cache: relayed as it comes, never parsed on the event loop
        trace.outcome = "bypass"
        return relay.overflowing(upstream, payload, rest, cache_headers("bypass"))
    trace.upstream_done()
    if upstream.status == 200:
        trace.usage(_usage_of(payload))
        if key is not None and _is_embedding_list(payload):
            gateway.defer(gateway.policy.keep_blob(key, payload, controls))
    return relay.whole(upstream, payload, cache_headers(state))


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


# Characters that some part of the way upstream may read as something else: a `#` ends the path for the URL
# parser (whatever precedes it then counts as a last segment: `..#`), a backslash is a slash to some servers, a
# `%` left after one decoding is a second encoding someone may decode again, control characters split requests.
_REREAD = re.compile(r"[\x00-\x1f\x7f#\\%]")


def _upstream_path(request: Request) -> str:
    """The path below /v1 as the client encoded it. Anything that could reach upstream paths outside the one
    the gateway checked (with the server's key, when gateway keys are on) is refused: dot segments, also with
    parameters (`..;x`), and characters read otherwise further on."""
    decoded = request.url.path.removeprefix("/v1")
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    if (_REREAD.search(decoded) or b"#" in raw
            or any(segment.split(";", 1)[0] in (".", "..") for segment in decoded.split("/"))):
        raise InvalidRequest(f"Invalid URL (the path {decoded[:200]!r} is not allowed).", code="invalid_url",
                             status=404)
    return raw.decode("latin-1").removeprefix("/v1")


async def passthrough(request: Request) -> Response:
    gateway = gateway_of(request)
    upstream = await gateway.upstream.send(
        request.method, _upstream_path(request), query=request.url.query, headers=forwarded_headers(request),
        content=body_stream(request) if request.method not in ("GET", "HEAD") else None,
        content_length=declared_length(request))
    return relay.streamed(upstream, upstream.stream(), {})


async def healthz(request: Request) -> Response:
    gateway = gateway_of(request)
    policy = gateway.policy
    store = {**await gateway.store_health(), "bypassing": policy.store_guard.down}
    embedder = {"ok": not policy.embedder_guard.down, **policy.embedder.health()}
    upstream = gateway.upstream.health()
    status = "ok" if store["ok"] and embedder["ok"] and upstream["open"] else "degraded"
    return JSONResponse({"status": status, "store": store, "embedder": embedder, "upstream": upstream})
