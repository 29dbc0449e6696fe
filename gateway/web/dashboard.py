"""The live dashboard: the page and its assets (shipped in the package, no CDN), the JSON it polls every
second, and the same figures for Prometheus at `/metrics`. With Redis every worker reads the one stream,
so whichever worker answers, it shows the whole fleet. With `METRICS_TOKEN` set, all of it needs the token."""

from __future__ import annotations

import base64
import functools
import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.metrics import prometheus
from gateway.metrics.window import WINDOWS_S
from gateway.web.request_parts import gateway_of
from gateway.web.responses import ErrorResponse

_SCRIPT = "text/javascript; charset=utf-8"
_ASSETS = {"index.html": "text/html; charset=utf-8", "dashboard.css": "text/css; charset=utf-8",
           "dashboard.js": _SCRIPT, "charts.js": _SCRIPT, "format.js": _SCRIPT}
_FRESH = {"cache-control": "no-cache"}  # always revalidate: an upgraded gateway must not run last version's script
DEFAULT_WINDOW_S = 900
# Basic, not Bearer: a browser opening the dashboard then asks for the token (as the password) by itself.
_CHALLENGE = {"www-authenticate": 'Basic realm="latency-slayer"'}

Endpoint = Callable[[Request], Awaitable[Response]]


def _presented(authorization: str) -> bytes:
    """The token of `Bearer <token>`, or the password of `Basic base64(user:password)`; else nothing."""
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials.encode("latin-1")  # the header's own bytes, as the client sent them
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials, validate=True).partition(b":")[2]
        except ValueError:  # not base64
            return b""
    return b""


def _guarded(endpoint: Endpoint) -> Endpoint:
    """`endpoint`, open when METRICS_TOKEN is unset, else only to callers presenting it."""

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        token = gateway_of(request).settings.metrics_token
        # Constant time: how long a refusal takes says nothing about how much of a guess was right.
        if token and not hmac.compare_digest(_presented(request.headers.get("authorization", "")), token.encode()):
            return ErrorResponse("The dashboard and /metrics need the gateway's METRICS_TOKEN, as a bearer token "
                                  "or as the password of HTTP Basic authentication.", status=401,
                                  code="invalid_metrics_token", headers=_CHALLENGE)
        return await endpoint(request)

    return checked


def _assets() -> Traversable:
    # A wheel ships the dashboard as package data, gateway/dashboard/; a checkout (run in place or installed
    # editable) keeps it in its top-level dashboard/ folder, next to the gateway package.
    installed = resources.files("gateway") / "dashboard"
    if installed.joinpath("index.html").is_file():
        return installed
    return Path(__file__).resolve().parents[2] / "dashboard"


@functools.cache
def _asset(name: str) -> bytes:
    return _assets().joinpath(name).read_bytes()


async def page(request: Request) -> Response:
    return Response(_asset("index.html"), media_type=_ASSETS["index.html"], headers=_FRESH)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _ASSETS or name == "index.html":
        return ErrorResponse(f"Unknown request URL: GET {request.url.path}.", status=404, code="unknown_url")
    return Response(_asset(name), media_type=_ASSETS[name], headers=_FRESH)


async def data(request: Request) -> Response:
    gateway = gateway_of(request)
    raw = request.query_params.get("window", str(DEFAULT_WINDOW_S))
    window = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0  # not "²", nor 5,000 digits
    if window not in WINDOWS_S:
        return ErrorResponse(f"Invalid 'window': expected one of {', '.join(map(str, WINDOWS_S))} seconds.",
                              status=400, param="window")
    [body], stale = await gateway.fleet.figures((window,), threshold=gateway.settings.cache_distance_threshold)
    body.update(windows=WINDOWS_S, stale=stale, sink=gateway.events.sink.describe(),
                worker=gateway.events.counters(), learning=gateway.policy.learnt())
    return Response(orjson.dumps(body), media_type="application/json", headers={"cache-control": "no-store"})


async def metrics(request: Request) -> Response:
    gateway = gateway_of(request)
    labels = prometheus.window_labels(WINDOWS_S)
    snapshots, _ = await gateway.fleet.figures(list(labels.values()),
                                               threshold=gateway.settings.cache_distance_threshold)
    text = prometheus.render(dict(zip(labels, snapshots, strict=True)), gateway.events.counters(),
                             gateway.policy.learnt())
    return Response(text, media_type=prometheus.CONTENT_TYPE)


def dashboard_routes() -> list[Route]:
    return [
        Route("/", _guarded(page), methods=["GET"]),
        Route("/dashboard", _guarded(page), methods=["GET"]),
        Route("/dashboard/data", _guarded(data), methods=["GET"]),
        Route("/dashboard/{name:str}", _guarded(asset), methods=["GET"]),
        Route("/metrics", _guarded(metrics), methods=["GET"]),
    ]
