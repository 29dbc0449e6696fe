"""The other endpoints: `/v1/embeddings` with an exact cache, every other `/v1/...` forwarded untouched
(method, query, body, status, headers, streamed bodies), and `/healthz`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import CacheUnavailable, GatewayError
from gateway.web import relay
from gateway.web.context import cache_headers, forwarded_headers, gateway_of, read_body, tenant_for
from gateway.wire.canonical import embeddings_key
from gateway.wire.controls import parse_controls
from gateway.wire.requests import parse_json_object, validate_embeddings


async def embeddings(request: Request) -> Response:
    gateway = gateway_of(request)
    raw = await read_body(request, gateway.settings.max_body_bytes)
    body = parse_json_object(raw)
    validate_embeddings(body)
    controls = parse_controls(request.headers)
    key: str | None = embeddings_key(body, tenant=tenant_for(request, controls.route))
    try:
        cached = await gateway.policy.recall_blob(key) if controls.lookup and key else None
    except CacheUnavailable:
        key, cached = None, None
    if cached is not None:
        return Response(cached, media_type="application/json", headers=cache_headers("hit", layer="exact"))
    upstream = await gateway.upstream.send("POST", "/embeddings", headers=forwarded_headers(request), content=raw)
    payload = await upstream.read()
    if upstream.status == 200 and key is not None and _is_embedding_list(payload):
        gateway.defer(gateway.policy.keep_blob(key, payload, controls))
    return relay.whole(upstream, payload, cache_headers("miss" if key else "bypass"))


def _is_embedding_list(payload: bytes) -> bool:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("data"), list)


async def passthrough(request: Request) -> Response:
    gateway = gateway_of(request)
    path = request.url.path.removeprefix("/v1")
    upstream = await gateway.upstream.send(
        request.method, path, query=request.url.query, headers=forwarded_headers(request),
        content=request.stream() if request.method not in ("GET", "HEAD") else None)
    return relay.streamed(upstream, upstream.stream(), {})


async def healthz(request: Request) -> Response:
    gateway = gateway_of(request)
    policy = gateway.policy
    store: dict[str, Any]
    try:
        store = {"ok": True, **await policy.store.health()}
    except GatewayError as error:
        store = {"ok": False, "error": str(error)}
    store["bypassing"] = policy.store_guard.down
    embedder = {"ok": not policy.embedder_guard.down, **policy.embedder.health()}
    upstream = gateway.upstream.health()
    status = "ok" if store["ok"] and embedder["ok"] and upstream["open"] else "degraded"
    return JSONResponse({"status": status, "store": store, "embedder": embedder, "upstream": upstream})
