"""`/admin/warm`: `latency-slayer warm` inside a running gateway. The body is the CLI's file (JSONL, or a JSON
array of the same objects), the options are query parameters, and the key the requests are sent with is the
`x-warm-key` header (it is a credential: never in a URL, which access logs keep). The run goes through the app
itself (`gateway.web.loopback`), so that key's tenant gets the answers and pays for them exactly as the CLI's run
with `--key` would; one run at a time per worker."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import InvalidRequest
from gateway.warming.jobs import WarmJob
from gateway.warming.requests import WarmRequest, read_warm_lines, warm_route
from gateway.warming.run import Budget
from gateway.web.loopback import loopback
from gateway.web.request_parts import gateway_of, read_body
from gateway.web.responses import JSONResponse
from gateway.wire.json_body import parse_json_array

OPTIONS = ("concurrency", "max_calls", "max_tokens", "model", "route")
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 8  # a run shares the worker with live traffic: `python -m bench.warming` measures what it costs
SHOWN_PROBLEMS = 20
_MAX_DIGITS = 12


def _count(params: QueryParams, name: str, most: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS else 0
    if number < 1 or (most is not None and number > most):
        bound = f"from 1 to {most}" if most else "of at least 1"
        raise InvalidRequest(f"Invalid '{name}': expected a whole number {bound}.", param=name,
                             code="invalid_warm_option")
    return number


def _options(params: QueryParams) -> dict[str, Any]:
    for name, _ in params.multi_items():
        if name not in OPTIONS:
            raise InvalidRequest(f"Unknown option {name!r}: expected {', '.join(OPTIONS)}.", param=name,
                                 code="invalid_warm_option")
        if len(params.getlist(name)) > 1:
            raise InvalidRequest(f"Option {name!r} is given more than once.", param=name, code="invalid_warm_option")
    model = params.get("model")
    if model is not None and not model:
        raise InvalidRequest("Invalid 'model': expected a model name.", param="model", code="invalid_warm_option")
    try:
        route = warm_route(params.get("route"))
    except ValueError as error:
        raise InvalidRequest(str(error), param="route", code="invalid_warm_option") from None
    return {"concurrency": _count(params, "concurrency", MAX_CONCURRENCY) or DEFAULT_CONCURRENCY,
            "budget": Budget(calls=_count(params, "max_calls"), tokens=_count(params, "max_tokens")),
            "model": model, "route": route}


def _requests(body: bytes, *, model: str, route: str | None) -> list[WarmRequest]:
    """The body's requests, or a 400 naming its bad lines (a JSON array's bad items), before any is sent."""
    array = body.lstrip().startswith(b"[")
    lines = [orjson.dumps(item) for item in parse_json_array(body)] if array else body.splitlines()
    requests, problems = read_warm_lines(lines, default_model=model, default_route=route)
    if problems:
        where = "item" if array else "line"
        shown = "; ".join(f"{where} {number}: {problem}" for number, problem in problems[:SHOWN_PROBLEMS])
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        raise InvalidRequest(f"Nothing was warmed: {len(problems)} bad {where}(s): {shown}{more}.",
                             code="invalid_warm_file")
    if not requests:
        raise InvalidRequest("Nothing to warm: the body has no requests.", code="invalid_warm_file")
    return requests


def _job(request: Request) -> WarmJob:
    job = gateway_of(request).warming.get(request.path_params["job"])
    if job is None:
        raise InvalidRequest("No warming run has this id (or it ended too long ago).", code="warm_job_not_found",
                             status=404)
    return job


async def start_warm(request: Request) -> Response:
    gateway = gateway_of(request)
    options = _options(request.query_params)
    body = await read_body(request)
    # A body of MAX_BODY_BYTES takes a second or two to read as requests: not on the event loop.
    requests = await asyncio.to_thread(_requests, body, model=options["model"] or gateway.settings.gen_model,
                                       route=options["route"])
    running = gateway.warming.running
    if running is not None:
        raise InvalidRequest(f"Warming run {running.id} is still running: wait for it, or cancel it with "
                             f"DELETE /admin/warm/{running.id}.", code="warm_job_running", status=409)
    job = gateway.warming.start(requests, loopback(request.app), key=request.headers.get("x-warm-key") or None,
                                budget=options["budget"], concurrency=options["concurrency"],
                                prices=gateway.events.prices)
    return JSONResponse(job.view(), status_code=202, headers={"location": f"/admin/warm/{job.id}"})


async def warm_progress(request: Request) -> Response:
    return JSONResponse(_job(request).view())


async def cancel_warm(request: Request) -> Response:
    job = _job(request)
    await gateway_of(request).warming.cancel(job)
    return JSONResponse(job.view())


def warm_routes(guarded: Any) -> list[Route]:
    """The routes, each behind the admin token (`guarded`)."""
    return [
        Route("/admin/warm", guarded(start_warm), methods=["POST"]),
        Route("/admin/warm/{job:str}", guarded(warm_progress), methods=["GET"]),
        Route("/admin/warm/{job:str}", guarded(cancel_warm), methods=["DELETE"]),
    ]
