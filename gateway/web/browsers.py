"""Web pages may not use the gateway unless the operator names them (`ALLOWED_ORIGINS`). Any page a user visits
can make the browser send requests to `localhost`: a form post needs no CORS preflight, and a page whose name
was re-pointed at 127.0.0.1 (DNS rebinding) even reads the answers. With `OPENAI_API_KEY` on the server, that
page would spend the key and read the account. SDKs send neither `Origin` nor `Sec-Fetch-*`; browsers send one
or both on every request, so a request carrying them is a page's, and is refused unless its origin is named.
A named origin gets its preflight answered here (never forwarded upstream) and CORS headers on its answers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.dialects import errors_for

GUARDED = ("/v1/", "/admin/", "/chat")
_EXPOSED = b"x-cache, x-cache-layer, x-cache-distance, x-cache-key"


class BrowserGuard:
    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self._allowed = allowed

    def _allows(self, origin: str | None) -> bool:
        return origin is not None and (origin in self._allowed or "*" in self._allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        from_page = origin is not None or b"sec-fetch-mode" in headers or b"sec-fetch-site" in headers
        if not from_page:
            await self.app(scope, receive, send)
            return
        named = origin.decode("latin-1") if origin is not None else None
        if not self._allows(named):
            refusal = errors_for(scope["path"]).body(
                "Web pages may not call this gateway: its ALLOWED_ORIGINS does not name this origin.", status=403,
                code="origin_not_allowed")
            await _answer(send, 403, refusal)
            return
        assert origin is not None
        cors = [(b"access-control-allow-origin", origin), (b"vary", b"Origin"),
                (b"access-control-expose-headers", _EXPOSED)]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await _answer(send, 204, b"", [
                *cors, (b"access-control-allow-methods", headers[b"access-control-request-method"]),
                (b"access-control-allow-headers", headers.get(b"access-control-request-headers", b"")),
                (b"access-control-max-age", b"600")])
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *(extra or [])]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
