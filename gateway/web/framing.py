"""Requests whose length is stated twice over. A request with both `Content-Length` and `Transfer-Encoding` can be
read two ways: the HTTP server here goes by the chunked framing, a proxy in front may go by the length, and the
bytes between the two readings then run as a request of their own (request smuggling). RFC 9112 6.3 lets a server
refuse such a request, and requires it to close the connection after answering: both happen here, before the app
reads a byte of the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.wire.errors import error_body


def ambiguous(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names


class SingleFraming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not ambiguous(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body = error_body("The request has both Content-Length and Transfer-Encoding; send one of them.",
                          status=400, code="ambiguous_framing")
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"x-cache", b"bypass")]})
        await send({"type": "http.response.body", "body": body})
