"""The pieces of a Starlette request that the cache and the upstream call need: the worker's Gateway, its body
(within bounds), who is calling and as which tenant (decided here once: `asker`), the headers that go upstream, and the
cache headers that come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request

from gateway.upstreams import Upstream, Upstreams
from gateway.web.access import Caller, caller_of, provider_headers, upstream_headers
from gateway.web.body import streamed
from gateway.web.dialects import server_key, speaks_anthropic
from gateway.web.services import GATEWAY, Gateway
from gateway.web.trace import TRACE, Trace
from gateway.wire.canonical import SHARED_TENANT
from gateway.wire.request_id import HEADER as REQUEST_ID


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.scope[GATEWAY]
    return gateway


async def read_body(request: Request) -> bytes:
    gateway = gateway_of(request)
    return await gateway.deadlines.read(request, gateway.settings.max_body_bytes)


def body_stream(request: Request) -> AsyncIterator[bytes]:
    return streamed(request, gateway_of(request).settings.body_timeout_secs)


def caller(request: Request) -> Caller:
    return caller_of(request, server_key(request.scope["path"], gateway_of(request).settings))


@dataclass(frozen=True)
class Asker:
    """Who asks, as the cache sees a request: worked out once, in this one place."""

    tenant: str  # the caller's own tenant
    scope: str  # whose entries it may be served: the caller's own, or everyone's on a shared route
    provider: str | None  # the routing table's provider answering it (whose answers are its own); None: the default
    embedder_key: str | None = field(repr=False)  # what a remote embedder (OpenAI's) is called with: never in a repr


def asker(request: Request, upstream: Upstream, route: str) -> Asker:
    """The caller of a request to `upstream` on `route`. A remote embedder is called with the caller's key for the
    default OpenAI upstream, but never with one meant for another provider (Anthropic, a provider of the routing
    table): then with the server's `OPENAI_API_KEY`."""
    who, settings = caller(request), gateway_of(request).settings
    routed_away = Upstreams.routed_away(upstream)
    foreign = routed_away or speaks_anthropic(request.scope["path"])
    return Asker(who.tenant, SHARED_TENANT if route in settings.shared_routes else who.tenant,
                 upstream.name if routed_away else None, settings.openai_api_key if foreign else who.upstream_key)


def on_gateways_account(request: Request, upstream: Upstream) -> bool:
    """Whether this request's upstream calls are paid by the gateway's own account: not by a credential the client
    sent, nor by the upstream key of the client's gateway key (an account of that client's)."""
    who = caller(request)
    if who.own_credential:
        return False
    return Upstreams.routed_away(upstream) or who.upstream_key == server_key(request.scope["path"],
                                                                            gateway_of(request).settings)


def forwarded_headers(request: Request, upstream: Upstream | None = None, *,
                      own_credential: bool = True) -> list[tuple[bytes, bytes]]:
    """The client's headers as they go to `upstream` (the default one when None), with the request's id as
    `x-request-id` in place of whatever the client sent; `own_credential` False: a provider of the routing table
    with no key of its own is not sent the caller's either."""
    if upstream is not None and Upstreams.routed_away(upstream):
        headers = provider_headers(request, caller(request), upstream.key, upstream.api, own_credential=own_credential)
    else:
        headers = upstream_headers(request, caller(request))
    trace: Trace = request.scope[TRACE]
    return [(name, value) for name, value in headers if name.lower() != REQUEST_ID] + [
        (REQUEST_ID, trace.request_id.encode("ascii"))]


def cache_headers(state: str, *, layer: str | None = None, distance: float | None = None,
                  entry: str | None = None) -> dict[str, str]:
    headers = {"x-cache": state}
    if layer is not None:
        headers["x-cache-layer"] = layer
    if distance is not None:
        headers["x-cache-distance"] = f"{distance:.4f}"
    if entry is not None:
        headers["x-cache-key"] = entry
    return headers
