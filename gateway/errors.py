"""The gateway's own exceptions: a small hierarchy that adapters raise and the web layer maps to
OpenAI-shaped HTTP errors (or to a cache bypass) at one boundary."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class SettingsError(GatewayError):
    """A setting has a value the gateway cannot use; the message names the variable and what it accepts."""


class StartupError(GatewayError):
    """Start-up cannot go on (e.g. an existing index was built for another embedder); says how to fix it."""


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
