"""`GET /livez` and `GET /readyz`: what a Kubernetes probe (or any load balancer) asks. Live: the process serves
HTTP. Ready: send it traffic; false from the moment it is told to stop (while it still finishes what it has) and,
when the operator asks (`READY_REQUIRES_STORE`), while its store cannot be reached.

Probes send no key, so both answer anyone; they say only yes or no (the why is in `/healthz` and the logs), and a
readiness check asks the store at most once per `HEALTH_SECS` however often it is called."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from gateway.web.request_parts import gateway_of
from gateway.web.responses import JSONResponse


class Readiness:
    """Whether this worker is stopping: set once, by the server's shutdown sequence (`gateway.serving`)."""

    def __init__(self) -> None:
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True


def readiness_of(app: Starlette) -> Readiness:
    readiness: Readiness = app.state.readiness
    return readiness


async def livez(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway = gateway_of(request)
    ready = not readiness_of(request.app).stopping
    if ready and gateway.settings.ready_requires_store:
        ready = (await gateway.store_health())["ok"]
    return JSONResponse({"status": "ready" if ready else "not ready"}, status_code=200 if ready else 503)
