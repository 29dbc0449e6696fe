"""Every other `/v1/...` call, forwarded untouched (method, query, body, status, headers, streamed bodies), for
paths that cannot be read as another path further on; and `forward`, which sends a request to a given upstream."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import InvalidRequest
from gateway.upstreams import Upstream
from gateway.web.body import declared_length
from gateway.web.request_parts import body_stream, forwarded_headers, gateway_of
from gateway.web.responses import RelayedStream

# Characters that some part of the way upstream may read as something else: a `#` ends the path for the URL
# parser (whatever precedes it then counts as a last segment: `..#`), a backslash is a slash to some servers, a
# `%` left after one decoding is a second encoding someone may decode again, control characters split requests.
_REREAD = re.compile(r"[\x00-\x1f\x7f#\\%]")


def upstream_path(request: Request) -> str:
    """The path below /v1 as the client encoded it. Anything that could reach upstream paths outside the one
    the gateway checked (with the server's key, when gateway keys are on) is refused: dot segments, also with
    parameters (`..;x`), and characters read otherwise further on."""
    decoded = request.url.path.removeprefix("/v1")
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    if (_REREAD.search(decoded) or b"#" in raw
            or any(segment.split(";", 1)[0] in (".", "..") for segment in decoded.split("/"))):
        raise InvalidRequest(f"Invalid URL (the path {decoded[:200]!r} is not allowed).", code="invalid_url",
                             status=404)
    return raw.decode("latin-1").removeprefix("/v1")


async def passthrough(request: Request) -> Response:
    return await forward(request, gateway_of(request).upstreams.default("openai"), upstream_path(request))


async def forward(request: Request, upstream: Upstream, path: str, *, content: bytes | None = None) -> Response:
    """`request` sent to `upstream` at `path` (with its query; its body as it arrives, or `content` when it was
    read), the answer relayed as it arrives."""
    if content is None and request.method not in ("GET", "HEAD"):
        sent = await upstream.client.send(request.method, path, query=request.url.query,
                                          headers=forwarded_headers(request, upstream), content=body_stream(request),
                                          content_length=declared_length(request))
    else:
        sent = await upstream.client.send(request.method, path, query=request.url.query,
                                          headers=forwarded_headers(request, upstream), content=content)
    return RelayedStream(sent, {})
