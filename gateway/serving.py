"""Serving the gateway with hypercorn: the settings every way of serving it shares (the CLI, the demo, the tests'
served gateway), and `serve`, the CLI's server in one process or several, with its shutdown sequence.

On SIGTERM or SIGINT (to the one process, or to the parent of workers, which passes it on) each worker: turns
`/readyz` to 503; keeps accepting for `SHUTDOWN_DELAY_SECS`, so a load balancer notices before the port closes;
then hypercorn closes idle keep-alive connections, stops accepting and waits for the requests and streams in
flight, which are cut at `SHUTDOWN_GRACE_SECS` (`InFlight`); last, the app's lifespan closes the Gateway, which waits
for deferred cache writes and flushes pending metrics events. hypercorn's own worker processes offer no hook
between the signal and the stop, hence the workers started here."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import multiprocessing
import signal
import threading
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.probes import readiness_of

log = logging.getLogger("latency_slayer")

Stop = Event | threading.Event  # set once the worker is to stop

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
POLL_SECS = 0.1  # how often a worker looks at its stop event (set by a signal to it, or to its parent)
BACKSTOP_SECS = 5.0  # hypercorn's own cut, after ours: for a connection that no request of the app holds open


def server_config(bind: str, *, graceful_timeout: float) -> Config:
    config = Config()
    config.bind = [bind]
    config.graceful_timeout = graceful_timeout
    # hypercorn names itself in a `server` header beside the one a relayed upstream answer carries: a client
    # would see two. The upstream's is kept, as a client talking to the API directly would see it.
    config.include_server_header = False
    return config


def stop_on_signals(workers: int) -> Stop:
    """What SIGTERM or SIGINT to this process sets from now on, for `serve`: called before the server starts, so a
    signal during start-up stops it gracefully once it serves (asyncio's runner would take a SIGINT to cancel the
    server half-started, which then hung). With several workers, a signal to the parent stops them all."""
    if workers == 1:
        stop = threading.Event()
        _catch(stop)
        return stop
    shared = multiprocessing.get_context("spawn").Event()
    for signum in STOP_SIGNALS:  # again and again: each worker takes a second signal to it as it should
        signal.signal(signum, lambda *_: shared.set())
    return shared


def serve(config: Config, *, stop: Stop, workers: int, delay: float) -> int:
    """Serve `gateway.asgi:app` until `stop` (`stop_on_signals`); the exit status (0 after a graceful stop). The
    grace period is `config.graceful_timeout`."""
    sockets = config.create_sockets()
    if workers == 1:
        _worker(config, sockets, stop, delay)
        return 0
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_spawned, args=(config, sockets, stop, delay)) for _ in range(workers)]
    for process in processes:
        process.start()
    running = list(processes)
    while running:
        wait([process.sentinel for process in running])
        if any(process.exitcode for process in running):
            stop.set()  # a worker that failed (to start, say) takes the others down with it, as hypercorn does
        running = [process for process in running if process.exitcode is None]
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    return next((process.exitcode for process in processes if process.exitcode), 0)


def _spawned(config: Config, sockets: Sockets, stop: Stop, delay: float) -> None:
    _catch(stop)  # a Ctrl-C reaches each worker of the terminal's process group too
    _worker(config, sockets, stop, delay)


def _catch(stop: Stop) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, functools.partial(_signalled, stop))


def _worker(config: Config, sockets: Sockets, stop: Stop, delay: float) -> None:
    from gateway.asgi import app  # builds the app from the environment, in the process that serves it

    loop_factory: Any = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    in_flight = InFlight(app)
    stopping = functools.partial(_stopping, in_flight, stop, delay, config.graceful_timeout)
    config.graceful_timeout += BACKSTOP_SECS
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(worker_serve(wrap_app(FrozenOnceStarted(in_flight), config.wsgi_max_body_size, "asgi"), config,
                                sockets=sockets, shutdown_trigger=stopping))


class FrozenOnceStarted:
    """The app, whose start-up leaves the garbage collector out of what it built. Most of a worker's objects are
    built then (the model's vocabulary, the verifier's trees, clients and settings) and live as long as it does;
    under load a full collection walked them all about once a second, 25 ms each (`gc.freeze`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def told(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                gc.collect()  # what start-up left behind is not kept for ever
                gc.freeze()
            await send(message)

        await self.app(scope, receive, told)


class InFlight:
    """The app, with the requests it is answering, to cut when the grace period ends. hypercorn cuts them itself
    after `graceful_timeout`, but only up to Python 3.11: from 3.12.1 its `Server.wait_closed()` waits for every
    connection first (hypercorn issue #308), and a stream would hold the process until the orchestrator kills it."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._requests: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan, which closes the Gateway after the cut, is never cut
            await self.app(scope, receive, send)
            return
        request = asyncio.current_task()
        assert request is not None
        self._requests.add(request)
        try:
            await self.app(scope, receive, send)
        finally:
            self._requests.discard(request)

    def cut(self) -> None:
        for request in list(self._requests):
            request.cancel()


def _signalled(stop: Stop, *_: object) -> None:
    """The first stop signal; a second one then acts as by default (SIGINT: stop at once), for an operator who
    won't wait."""
    stop.set()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


async def _stopping(in_flight: InFlight, stop: Stop, delay: float, grace: float) -> None:
    """Returns when hypercorn should stop accepting: `delay` seconds after the first stop signal (to this worker
    or, through `stop`, to its parent), readiness already off, with the cut of what is left set `grace` seconds
    later."""
    while not stop.is_set():
        await asyncio.sleep(POLL_SECS)
    readiness_of(in_flight.app).stop()
    log.info("stopping: not ready; accepting for %.1f s more, then letting requests in flight finish for up to "
             "%.1f s", delay, grace)
    await asyncio.sleep(delay)
    asyncio.get_running_loop().call_later(grace, in_flight.cut)
