"""`GET /healthz`: the state of the store, the embedder and the upstream client, `ok` or `degraded`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.web.services import gateway_of


async def healthz(request: Request) -> Response:
    gateway = gateway_of(request)
    policy = gateway.policy
    store = {**await gateway.store_health(), "bypassing": policy.store_guard.down}
    embedder = {"ok": not policy.embedder_guard.down, **policy.embedder.health()}
    upstream = gateway.upstream.health()
    status = "ok" if store["ok"] and embedder["ok"] and upstream["open"] else "degraded"
    return JSONResponse({"status": status, "store": store, "embedder": embedder, "upstream": upstream})
