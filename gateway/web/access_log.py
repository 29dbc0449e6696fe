"""The access log: one JSON line per HTTP request, written by the `Observed` middleware once the response is over.

A line holds what an operator needs to find a request and judge it (time, request id, method, path, status, API,
outcome and layer, model, route, timings) and nothing a client meant for the upstream alone: no query string (a
client may put a key there), no header, body, prompt, answer, key or tenant. Client-controlled text is bounded
(the path is cut short, model and route are cut to the metrics' label bounds) and JSON-escaped, so a client can
neither forge a line nor make one huge. Health probes, scrapes and the dashboard's polls are written at DEBUG:
one every second or few would drown the traffic."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import orjson
from starlette.types import Scope

from gateway.logs import ACCESS_LOGGER
from gateway.metrics.labels import bounded

if TYPE_CHECKING:  # the trace module writes through this one
    from gateway.web.trace import Trace

log = logging.getLogger(ACCESS_LOGGER)

# Probes, scrapes and the dashboard's polls.
QUIET_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics", "/dashboard/data"})
MAX_PATH_CHARS = 256


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AccessLog:
    def __init__(self, level: str) -> None:
        """`level`: "off", or the level ("debug", "info", "warning") each request's line is written at; whether it
        is shown is up to the logger's own level (`LOG_LEVEL`)."""
        self._level = None if level == "off" else logging.getLevelNamesMapping()[level.upper()]

    def write(self, scope: Scope, trace: Trace) -> None:
        if self._level is None:
            return
        path: str = scope["path"]
        level = logging.DEBUG if path in QUIET_PATHS else self._level
        if log.isEnabledFor(level):
            log.log(level, "%s", line(scope["method"], path, trace))


def line(method: str, path: str, trace: Trace) -> str:
    counted = trace.event is not None  # an API call the metrics count: the cache had a say in it
    return orjson.dumps({
        "time": _now(),
        "request_id": trace.request_id,
        "method": method[:16],
        "path": path[:MAX_PATH_CHARS],
        "status": trace.status,
        "api": trace.event,
        "outcome": trace.outcome if counted else None,
        "layer": trace.layer,
        "stream": trace.stream,
        "model": bounded(trace.model) or None,
        "route": bounded(trace.route) if counted else None,
        "latency_ms": _ms(trace.latency_ms),
        "upstream_ms": _ms(trace.upstream_ms),
        "ttfb_ms": _ms(trace.ttfb_ms),
        "upstream_request_id": trace.upstream_request_id,
    }).decode()
