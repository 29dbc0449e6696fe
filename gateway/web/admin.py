"""Admin endpoints, which exist only when `ADMIN_TOKEN` is set: flush a route or a tenant, delete one entry,
read the cache's state, warm the cache (`gateway.web.admin_warm`). Every call needs
`Authorization: Bearer <ADMIN_TOKEN>`."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import CacheUnavailable, InvalidRequest
from gateway.metrics.prometheus import window_labels
from gateway.metrics.window import WINDOWS_S
from gateway.web.admin_warm import warm_routes
from gateway.web.failures import failure
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.responses import ErrorResponse, JSONResponse
from gateway.web.services import Gateway
from gateway.wire.canonical import ENTRY_ID, tenant_digest
from gateway.wire.credentials import bearer_token
from gateway.wire.json_body import parse_json_object

_FLUSH_FIELDS = {"route", "tenant_key", "all"}


def _authorised(request: Request, token: str) -> bool:
    presented = bearer_token(request.headers.get("authorization")) or ""
    return hmac.compare_digest(presented.encode(), token.encode())


def _flush_scope(body: dict[str, Any]) -> tuple[str | None, str | None]:
    unknown = set(body) - _FLUSH_FIELDS
    if unknown:
        raise InvalidRequest(f"Unknown field {sorted(unknown)[0]!r}: expected route, tenant_key or all.",
                             param=sorted(unknown)[0])
    route, key = body.get("route"), body.get("tenant_key")
    for name, value in (("route", route), ("tenant_key", key)):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidRequest(f"Invalid '{name}': expected a non-empty string.", param=name)
    if route is None and key is None and body.get("all") is not True:
        raise InvalidRequest("Say what to flush: a route, a tenant_key, or all: true.", param="all")
    return route, tenant_digest(key) if key is not None else None


async def _background(gateway: Gateway) -> dict[str, Any]:
    """Per window and kind (refresh, prefetch, warming), the answers written without a client asking, the hits
    later served from them, and the gateway's own calls with their tokens."""
    labels = window_labels(WINDOWS_S)
    snapshots, _ = await gateway.fleet.figures(list(labels.values()),
                                               threshold=gateway.settings.cache_distance_threshold)
    return {label: {kind: {**snap["summary"]["background"].get(kind, {}), **figures}
                    for kind, figures in snap["summary"]["yield"].items()}
            for label, snap in zip(labels, snapshots, strict=True)}


def admin_routes(token: str | None) -> list[Route]:
    if not token:
        return []

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not _authorised(request, token):
                return ErrorResponse("This admin endpoint needs the gateway's ADMIN_TOKEN.", status=401,
                                      code="invalid_admin_token")
            try:
                result: Response = await handler(request)
            except CacheUnavailable as error:  # the store is down: say so instead of a 500
                status, code = failure(error)
                return ErrorResponse(f"The cache store is unavailable: {error}", status=status, code=code)
            return result

        return endpoint

    async def flush(request: Request) -> Response:
        gateway = gateway_of(request)
        route, tenant = _flush_scope(parse_json_object(await read_body(request)))
        deleted = await gateway.policy.flush(route=route, tenant=tenant)
        return JSONResponse({"deleted": deleted})

    async def delete_entry(request: Request) -> Response:
        entry = request.path_params["entry"]
        removed = ENTRY_ID.fullmatch(entry) and await gateway_of(request).policy.delete(entry)
        if not removed:
            return ErrorResponse("No cache entry has this id.", status=404, code="entry_not_found")
        return Response(status_code=204)

    async def stats(request: Request) -> Response:
        gateway = gateway_of(request)
        policy = gateway.policy
        return JSONResponse({
            "store": await policy.store_health(),
            "bypassing": policy.bypassing(),
            "embedder": policy.embedder_health(),
            "policy": policy.describe(),
            "routes": policy.learnt(),  # judged hits, measured precision, adaptive thresholds
            "background": await _background(gateway),
        })

    return [
        Route("/admin/flush", guarded(flush), methods=["POST"]),
        Route("/admin/entries/{entry:str}", guarded(delete_entry), methods=["DELETE"]),
        Route("/admin/stats", guarded(stats), methods=["GET"]),
        *warm_routes(guarded),
    ]
