"""Gateway access keys (`GATEWAY_API_KEYS`): a pure-ASGI middleware that admits only the gateway's own keys
on `/v1/...`, so the real upstream key stays on the server. The caller's key still names its tenant."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.upstream import bearer_token
from gateway.web.errors import error_body

CLIENT_KEY = "latency_slayer.client_key"  # scope entry: the admitted gateway key, for the tenant digest


def client_key(scope: Scope) -> str | None:
    """The key that names the caller's tenant: an admitted gateway key, else the `Authorization` bearer."""
    admitted: str | None = scope.get(CLIENT_KEY)
    if admitted is not None:
        return admitted
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


class GatewayKeys:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self._keys = [key.encode() for key in keys]

    def _admits(self, token: str | None) -> bool:
        presented = (token or "").encode()
        # Compare against every key, always, so the time taken says nothing about which key is close.
        return bool(sum(hmac.compare_digest(presented, key) for key in self._keys)) and token is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        token = client_key(scope)
        if not self._admits(token):
            body = error_body("Incorrect API key provided for this gateway.", status=401, code="invalid_api_key")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"www-authenticate", b"Bearer")]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # Without the client's Authorization the upstream client sends the configured OPENAI_API_KEY.
        headers = [(name, value) for name, value in scope["headers"] if name != b"authorization"]
        await self.app({**scope, "headers": headers, CLIENT_KEY: token}, receive, send)
