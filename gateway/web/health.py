"""`GET /healthz`: the state of the store, the embedder and the upstream clients, `ok` or `degraded`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.web.request_parts import gateway_of
from gateway.web.responses import JSONResponse


async def healthz(request: Request) -> Response:
    gateway = gateway_of(request)
    policy = gateway.policy
    store = {**await gateway.store_health(), "bypassing": policy.bypassing()["store"]}
    embedder = {"ok": not policy.bypassing()["embedder"], **policy.embedder_health()}
    upstreams = gateway.upstreams
    upstream, anthropic = upstreams.default("openai").client.health(), upstreams.default("anthropic").client.health()
    providers = upstreams.health()
    clients = [upstream, anthropic, *providers.values()]
    status = "ok" if store["ok"] and embedder["ok"] and all(client["open"] for client in clients) else "degraded"
    return JSONResponse({"status": status, "store": store, "embedder": embedder, "upstream": upstream,
                         "anthropic": anthropic, **({"providers": providers} if providers else {})})
