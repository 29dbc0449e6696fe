"""Who a request is from and what it may reach upstream, decided once per request.

Open mode (no `GATEWAY_API_KEYS`): the client's own credential, in whatever form it sent it, goes upstream and
names its tenant; a client with none is forwarded with `OPENAI_API_KEY` and joins the one anonymous tenant.

Gateway-key mode: a pure-ASGI middleware admits only the gateway's own keys (as a bearer token, `api-key` or
`x-api-key`) on `/v1/...` and `/chat`, removes them, and calls the upstream with the key the access table gives
that gateway key, else `OPENAI_API_KEY` (Anthropic's paths: always `ANTHROPIC_API_KEY`, the table's keys being
for the OpenAI upstream), so real keys stay on the server. Each gateway key is its own tenant.
Keys that share the server's upstream account may reach only its stateless endpoints (`STATELESS`): files,
batches, stored completions and responses, assistants, vector stores... are account-wide upstream, so another key
could list, read or delete them. `ACCOUNT_ENDPOINTS=allow` lifts that; a key with its own upstream key is never
limited."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.web.dialects import errors_for, key_header, speaks_anthropic
from gateway.wire.canonical import tenant_digest
from gateway.wire.credentials import ANONYMOUS, credentials_of, without_credentials
from gateway.wire.errors import ErrorShape

CALLER = "latency_slayer.caller"  # scope entry: the Caller, worked out once per request


def reaches_upstream(path: str) -> bool:
    """Whether a request to `path` reaches an upstream, so that gateway keys are asked for (`/chat`: the original
    design's interface; only that path, so that `/chat/completions` without `/v1` is a plain 404)."""
    return path.startswith("/v1/") or path == "/chat"


# What a key on the shared upstream account may call: answers computed from the request alone, which leave
# nothing on the account that another key could read back.
STATELESS = (
    ("POST", re.compile(r"/v1/(chat/completions|completions|embeddings|moderations|messages|messages/count_tokens"
                        r"|responses|responses/input_tokens|audio/(speech|transcriptions|translations)"
                        r"|images/(generations|edits|variations)|cache/feedback)|/chat")),
    ("GET", re.compile(r"/v1/models(/[^/]+)?")),
)
# Answers the gateway may hold itself: a response it served from the cache under an id of its own is its caller's
# alone, so any caller may read or delete it; what the upstream account holds under other ids stays out of reach.
GATEWAY_HELD = (
    ("GET", re.compile(r"/v1/responses/[^/]+(/input_items)?")),
    ("DELETE", re.compile(r"/v1/responses/[^/]+")),
)


# Headers that choose, or prove, an upstream account beside the key: a caller on the gateway's key may not send them.
_ACCOUNT_HEADERS = frozenset({b"openai-organization", b"openai-project", b"cookie", b"anthropic-organization"})


@dataclass(frozen=True)
class Caller:
    tenant: str  # what the cache partitions by: a digest of the credential, or ANONYMOUS
    upstream_key: str | None  # the key upstream calls are made with, when the gateway supplies it
    own_credential: bool  # the client's credential goes upstream as it was sent (open mode)
    account_wide: bool = True  # may reach what the upstream account holds for every key (see STATELESS)


def stateless(method: str, path: str) -> bool:
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in STATELESS)


def gateway_held(method: str, path: str) -> bool:
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in GATEWAY_HELD)


def account_denied(method: str, path: str) -> str:
    return (f"{method} {path} reaches resources shared by every key of this gateway's upstream account, so it is "
            "not available with a gateway key.")


def open_caller(scope: Scope, default_key: str | None) -> Caller:
    credentials = credentials_of(scope["headers"])
    if credentials.presented:
        return Caller(credentials.tenant(), credentials.key, own_credential=True)
    return Caller(ANONYMOUS, default_key, own_credential=False)


def caller_of(request: Request, default_key: str | None) -> Caller:
    """The request's caller: admitted by the middleware in gateway-key mode, else read from its headers."""
    caller: Caller | None = request.scope.get(CALLER)
    if caller is None:
        caller = request.scope[CALLER] = open_caller(request.scope, default_key)
    return caller


def provider_headers(request: Request, caller: Caller, key: str | None, api: str, *,
                     own_credential: bool = True) -> list[tuple[bytes, bytes]]:
    """The client's headers as they go to a provider of the routing table, without the caller's account headers:
    with the provider's own key in place of any credential the caller presented (meant for someone else); for a
    provider with no key, the credential the caller sent itself, if it sent one, and never a key of the server's
    (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, a gateway key's upstream key), which are for the default upstreams."""
    headers = [(name, value) for name, value in without_credentials(request.headers.raw)
               if name.lower() not in _ACCOUNT_HEADERS]
    if key is not None:
        anthropic = api == "anthropic"
        return [*headers, (b"x-api-key", key.encode()) if anthropic else (b"authorization", f"Bearer {key}".encode())]
    if caller.own_credential and own_credential:
        presented = credentials_of(request.headers.raw).presented
        headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in presented]
    return headers


def upstream_headers(request: Request, caller: Caller) -> list[tuple[bytes, bytes]]:
    """The client's headers as they go upstream, with the credential the caller's upstream call carries: its own
    (minus empty ones, which would override the configured key with nothing), else the gateway's key."""
    headers = without_credentials(request.headers.raw)
    if caller.own_credential:
        presented = credentials_of(request.headers.raw).presented
        return headers + [(name.encode("latin-1"), value.encode("latin-1")) for name, value in presented]
    # The server's account: its organization and project are not the caller's to pick.
    headers = [(name, value) for name, value in headers if name.lower() not in _ACCOUNT_HEADERS]
    if caller.upstream_key:
        headers.append(key_header(request.scope["path"], caller.upstream_key))
    return headers


class GatewayKeys:
    def __init__(self, app: ASGIApp, table: Mapping[str, str | None], *, default_key: str | None,
                 anthropic_key: str | None, account_endpoints: bool) -> None:
        self.app = app
        self._keys = [(key.encode(), upstream) for key, upstream in table.items()]
        self._default_key = default_key
        self._anthropic_key = anthropic_key
        self._account_endpoints = account_endpoints

    def _admit(self, key: str | None) -> tuple[bool, str | None]:
        """Whether `key` is a gateway key, and its own upstream key. Every key is compared, always, so the time
        taken says nothing about which key is close."""
        presented = (key or "").encode()
        found: tuple[bool, str | None] = (False, None)
        for candidate, upstream in self._keys:
            if hmac.compare_digest(presented, candidate) and key is not None:
                found = (True, upstream)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not reaches_upstream(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        key = credentials_of(scope["headers"]).key
        admitted, own_upstream = self._admit(key)
        if not admitted:
            await _refuse(send, errors_for(path), 401, "Incorrect API key provided for this gateway.",
                          "invalid_api_key", [(b"www-authenticate", b"Bearer")])
            return
        account_wide = own_upstream is not None or self._account_endpoints
        method = scope["method"]
        if not account_wide and not stateless(method, path) and not gateway_held(method, path):
            await _refuse(send, errors_for(path), 403, account_denied(method, path), "account_endpoint_denied", [])
            return
        assert key is not None
        upstream = self._anthropic_key if speaks_anthropic(path) else own_upstream or self._default_key
        caller = Caller(tenant_digest(key), upstream, own_credential=False, account_wide=account_wide)
        await self.app({**scope, CALLER: caller}, receive, send)


async def _refuse(send: Send, errors: ErrorShape, status: int, message: str, code: str,
                  extra: list[tuple[bytes, bytes]]) -> None:
    body = errors.body(message, status=status, code=code)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
