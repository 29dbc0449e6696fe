"""Requests the gateway sends itself: a warming run started by `POST /admin/warm` goes through the app in-process,
middleware and all, so each request is treated exactly as the same request from a client on the loopback (its key
admitted or refused, its tenant, its route, the cache's rules, its event and access log line), without a socket
and without the CLI's HTTP client."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message

from gateway.warming.requests import WarmRequest
from gateway.warming.run import Post

LOOPBACK = ("127.0.0.1", 0)
USER_AGENT = b"latency-slayer-warm"

log = logging.getLogger("latency_slayer.web")


def loopback(app: ASGIApp) -> Post:
    async def post(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
        path = "/v1" + request.path
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in [*request.headers, *headers]]
        raw += [(b"content-length", str(len(request.body)).encode()), (b"user-agent", USER_AGENT)]
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "headers": raw, "client": LOOPBACK, "server": LOOPBACK, "extensions": {},
                 "state": {}}
        ended = asyncio.Event()
        unread = [request.body]
        status, cache, chunks = 500, None, []

        async def receive() -> Message:
            if unread:
                return {"type": "http.request", "body": unread.pop(), "more_body": False}
            await ended.wait()  # a client that stays connected until its answer is whole
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                cache = next((value.decode("latin-1") for name, value in message.get("headers", ())
                              if name.lower() == b"x-cache"), None)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    ended.set()

        try:
            await app(scope, receive, send)
        except Exception:  # a server error: a socket's client would see a 500, and so does the run
            log.exception("a warming request to %s failed in the gateway", path)
            status = 500
        finally:
            ended.set()
        return status, cache, b"".join(chunks)

    return post
