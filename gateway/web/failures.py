"""What a client gets when one of the gateway's exceptions ends a request: the status and error code of each, in
one table that the error boundary (`gateway.web.error_responses`), a stream broken mid-way and the events of
background calls all read, so that the same failure never gets two statuses."""

from __future__ import annotations

from gateway.errors import (
    CacheUnavailable,
    EmbedderError,
    EventTooLong,
    FlightFailed,
    GatewayError,
    InvalidRequest,
    NotEmbeddable,
    SettingsError,
    SinkError,
    StartupError,
    StoreError,
    Uncacheable,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

# Every exception of `gateway.errors`, by class, and what a client gets when one ends a request. Those marked
# "never" are handled before any answer (a bypass, another upstream call, a start-up refusal); should one reach
# the boundary anyway, the client still gets an answer in OpenAI's shape, and a test keeps this table whole.
STATUSES: dict[type[GatewayError], tuple[int, str]] = {
    InvalidRequest: (400, "invalid_request"),  # its own status and code win
    UpstreamTimeout: (504, "upstream_timeout"),
    UpstreamUnreachable: (502, "upstream_unreachable"),
    UpstreamProtocolError: (502, "upstream_protocol_error"),
    EventTooLong: (502, "upstream_protocol_error"),
    UpstreamError: (502, "upstream_error"),
    FlightFailed: (504, "upstream_timeout"),  # a follower whose leader's answer stopped arriving
    CacheUnavailable: (503, "cache_unavailable"),  # a request bypasses the cache; deleting a served id cannot
    StoreError: (503, "store_unavailable"),  # never on a request (a bypass); admin and feedback answer it
    EmbedderError: (503, "cache_unavailable"),  # never: the request bypasses the cache
    NotEmbeddable: (503, "cache_unavailable"),  # never: the request is served from the exact layer only
    SinkError: (503, "metrics_unavailable"),  # never: events are dropped and counted
    Uncacheable: (500, "internal_error"),  # never: the request bypasses the cache
    SettingsError: (500, "internal_error"),  # never: start-up stops
    StartupError: (500, "internal_error"),  # never: start-up stops
    GatewayError: (500, "internal_error"),
}


def failure(error: GatewayError) -> tuple[int, str]:
    """The status and code a client gets for `error`."""
    if isinstance(error, InvalidRequest):
        return error.status, error.code or STATUSES[InvalidRequest][1]
    return next(STATUSES[kind] for kind in type(error).__mro__ if kind in STATUSES)
