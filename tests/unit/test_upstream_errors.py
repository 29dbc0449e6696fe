"""The upstream adapter's error mapping: every httpx error is one of the gateway's own (the connections that die
under it, on real sockets: integration/test_upstream_keepalive.py)."""

from __future__ import annotations

import httpx

from gateway import upstream as adapter
from gateway.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnreachable

# Every httpx error, and what it is to the gateway: a new httpx class fails this test until it is placed here.
_MAPPED = {
    "ConnectError": UpstreamUnreachable, "ConnectTimeout": UpstreamUnreachable,
    "ReadTimeout": UpstreamTimeout, "WriteTimeout": UpstreamTimeout, "PoolTimeout": UpstreamTimeout,
    "TimeoutException": UpstreamTimeout,
    **dict.fromkeys(["HTTPError", "RequestError", "TransportError", "NetworkError", "ReadError", "WriteError",
                     "CloseError", "ProtocolError", "LocalProtocolError", "RemoteProtocolError", "ProxyError",
                     "UnsupportedProtocol", "DecodingError", "TooManyRedirects", "HTTPStatusError"],
                    UpstreamProtocolError),
}


def _httpx_errors() -> set[type[httpx.HTTPError]]:
    found, pending = set(), [httpx.HTTPError]
    while pending:
        error = pending.pop()
        if error.__module__.startswith("httpx"):
            found.add(error)
            pending += error.__subclasses__()
    return found


def test_every_httpx_error_maps_onto_a_gateway_error() -> None:
    errors = _httpx_errors()
    assert {error.__name__ for error in errors} == set(_MAPPED)
    for error in errors:
        instance = error.__new__(error)
        Exception.__init__(instance, "boom")
        mapped = adapter._mapped(instance)
        assert type(mapped) is _MAPPED[error.__name__] and isinstance(mapped, UpstreamError), error
