"""The gateway's own exceptions, one hierarchy: what adapters and pure parts raise, and what the web layer maps
to OpenAI-shaped HTTP errors (or to a cache bypass) at one boundary (`gateway.web.failures.failure`).
Every class here has its status there; a test checks that no exception the package defines is left out."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class SettingsError(GatewayError):
    """A setting has a value the gateway cannot use; the message names the variable and what it accepts."""


class StartupError(GatewayError):
    """Start-up cannot go on (e.g. an existing index was built for another embedder); says how to fix it."""


class InvalidRequest(GatewayError):
    """A client error (HTTP 400 unless `status` says otherwise), reported in OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


class Uncacheable(GatewayError):
    """The request is valid but cannot be served from the cache safely; it goes upstream as a bypass."""


class CacheUnavailable(GatewayError):
    """A cache dependency failed; the request must go upstream with `x-cache: bypass`."""


class StoreError(CacheUnavailable):
    """The cache store is down, timed out or answered something unexpected."""


class EmbedderError(CacheUnavailable):
    """The embedder could not produce a vector for this text."""


class NotEmbeddable(EmbedderError):
    """This request's text cannot be embedded (no words, or a remote embedder refused this caller or this text);
    the embedder itself is fine, so it is no outage."""


class UpstreamError(GatewayError):
    """The upstream API could not be used; never the upstream's own 4xx/5xx, which pass through."""


class UpstreamUnreachable(UpstreamError):
    """Connecting to the upstream failed (HTTP 502 to the client)."""


class UpstreamTimeout(UpstreamError):
    """The upstream took longer than its timeout (HTTP 504 to the client)."""


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something that is not valid HTTP/JSON/SSE (HTTP 502 to the client)."""


class EventTooLong(UpstreamProtocolError):
    """A stream event longer than the gateway reads (HTTP 502, an SSE error event mid-stream)."""


class FlightFailed(GatewayError):
    """The single-flight ended without an answer to share (the leader's upstream failed, its readers all left, or
    nothing arrived within the upstream's timeout): a follower that relayed nothing yet goes upstream itself."""


class SinkError(GatewayError):
    """The metrics sink could not be written or read; events are dropped (and counted), requests never fail."""
