"""The live dashboard: the page and its assets (shipped in the package, no CDN), the JSON it polls every
second, and the same figures for Prometheus at `/metrics`. With Redis every worker reads the one stream,
so whichever worker answers, it shows the whole fleet."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.metrics import prometheus
from gateway.metrics.aggregate import snapshot
from gateway.metrics.events import Event
from gateway.metrics.sink import SinkError
from gateway.metrics.window import WINDOWS_S
from gateway.web.context import Gateway, gateway_of
from gateway.web.errors import error_response

_SCRIPT = "text/javascript; charset=utf-8"
_ASSETS = {"index.html": "text/html; charset=utf-8", "dashboard.css": "text/css; charset=utf-8",
           "dashboard.js": _SCRIPT, "charts.js": _SCRIPT, "format.js": _SCRIPT}
_FRESH = {"cache-control": "no-cache"}  # always revalidate: an upgraded gateway must not run last version's script
DEFAULT_WINDOW_S = 900


@functools.cache
def _asset(name: str) -> bytes:
    return (resources.files("gateway") / "dashboard" / name).read_bytes()


async def page(request: Request) -> Response:
    return Response(_asset("index.html"), media_type=_ASSETS["index.html"], headers=_FRESH)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _ASSETS or name == "index.html":
        return error_response(f"Unknown request URL: GET {request.url.path}.", status=404, code="unknown_url")
    return Response(_asset(name), media_type=_ASSETS[name], headers=_FRESH)


async def _recent(gateway: Gateway) -> tuple[list[Event], str | None]:
    """The fleet's recent events, and why they may be stale: a sink outage shows the last known figures."""
    try:
        return await gateway.fleet.refresh(), None
    except SinkError as error:
        return gateway.fleet.held(), str(error)


def _snapshot(gateway: Gateway, events: list[Event], window_s: int) -> dict[str, Any]:
    return snapshot(events, now_ms=gateway.fleet.now_ms(), window_ms=window_s * 1000,
                    threshold=gateway.settings.cache_distance_threshold)


async def data(request: Request) -> Response:
    gateway = gateway_of(request)
    raw = request.query_params.get("window", str(DEFAULT_WINDOW_S))
    window = int(raw) if raw.isdigit() else 0
    if window not in WINDOWS_S:
        return error_response(f"Invalid 'window': expected one of {', '.join(map(str, WINDOWS_S))} seconds.",
                              status=400, param="window")
    events, stale = await _recent(gateway)
    body = _snapshot(gateway, events, window)
    body.update(windows=WINDOWS_S, stale=stale, sink=gateway.events.sink.describe(),
                worker=gateway.events.counters(), learning=gateway.policy.learning.snapshot())
    return Response(orjson.dumps(body), media_type="application/json", headers={"cache-control": "no-store"})


async def metrics(request: Request) -> Response:
    gateway = gateway_of(request)
    events, _ = await _recent(gateway)
    snapshots = {label: _snapshot(gateway, events, seconds)
                 for label, seconds in prometheus.window_labels(WINDOWS_S).items()}
    text = prometheus.render(snapshots, gateway.events.counters(), gateway.policy.learning.snapshot())
    return Response(text, media_type=prometheus.CONTENT_TYPE)


def dashboard_routes() -> list[Route]:
    return [
        Route("/", page, methods=["GET"]),
        Route("/dashboard", page, methods=["GET"]),
        Route("/dashboard/data", data, methods=["GET"]),
        Route("/dashboard/{name:str}", asset, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
