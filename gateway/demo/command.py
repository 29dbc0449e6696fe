"""`latency-slayer demo`: the gateway in front of a simulated upstream (no key, no network), a replay of a
realistic workload with a progress bar, a summary of what the cache saved, and the live dashboard left up
at a printed URL until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http.client
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from hypercorn.asyncio import serve

from gateway.assembly import create_app, recorded_events
from gateway.demo.report import Progress, report
from gateway.demo.upstream import simulated_upstream
from gateway.demo.workload import Ask, load_workload, plan
from gateway.logs import configure_logging
from gateway.serving import server_config
from gateway.setting_values import positive
from gateway.settings import load_settings

DEMO_KEY = "sk-demo-not-a-real-key"
DEFAULT_PORT = 8090  # not `serve`'s 8080, so the demo runs beside a gateway


def add_demo_command(commands: Any) -> None:
    """Register `demo` on the CLI's subparsers."""
    demo = commands.add_parser("demo", help="watch the cache work: a simulated upstream, a replayed workload, "
                                            "a summary and the live dashboard")
    demo.add_argument("--host", default="127.0.0.1", help="where the gateway and its dashboard listen")
    demo.add_argument("--port", type=int, default=None,
                      help=f"0 picks a free port (default: {DEFAULT_PORT}, or a free one if it is taken)")
    demo.add_argument("--requests", type=positive, default=240, help="how many requests to replay")
    demo.add_argument("--concurrency", type=positive, default=2, help="requests in flight at once")
    demo.add_argument("--miss-ms", type=int, default=900, help="how long the simulated model takes to answer")
    demo.add_argument("--no-wait", action="store_true", help="stop after the summary instead of serving on")
    demo.set_defaults(run=run_demo)



def run_demo(args: argparse.Namespace) -> int:
    try:
        gateway_socket = _listen(args.host, DEFAULT_PORT if args.port is None else args.port)
    except OSError as error:
        if args.port is not None:  # the port asked for is taken: say so in one line, not a traceback
            print(f"latency-slayer: cannot listen on {args.host}:{args.port} ({error.strerror}); try --port 0",
                  file=sys.stderr)
            return 2
        gateway_socket = _listen(args.host, 0)
    try:
        asyncio.run(_demo(args, gateway_socket))
    except KeyboardInterrupt:
        print("\nstopped")
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """Bound and listening before the servers start, so clients can connect at once and port 0 works."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.set_inheritable(True)
    return sock


async def _serve(app: Any, sock: socket.socket, stop: asyncio.Event) -> None:
    config = server_config(f"fd://{sock.fileno()}", graceful_timeout=2)
    config.accesslog = None
    config.loglevel = "WARNING"
    try:
        await serve(app, config, shutdown_trigger=stop.wait)
    finally:
        sock.detach()  # hypercorn took the descriptor over and closed it


async def _demo(args: argparse.Namespace, gateway_socket: socket.socket) -> None:
    upstream_socket = _listen("127.0.0.1", 0)
    upstream_url = f"http://127.0.0.1:{upstream_socket.getsockname()[1]}/v1"
    settings = dataclasses.replace(  # the operator's settings (model dir, threshold), minus anything external
        load_settings(), redis_url=None, upstream_base_url=upstream_url, openai_api_key=DEMO_KEY,
        gateway_api_keys=(), admin_token=None, metrics_token=None, miss_delay_ms=0, log_level="warning")
    configure_logging(settings.log_level)
    app = create_app(settings)
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{host}:{gateway_socket.getsockname()[1]}"
    stop = asyncio.Event()
    servers = [asyncio.create_task(_serve(simulated_upstream(args.miss_ms), upstream_socket, stop)),
               asyncio.create_task(_serve(app, gateway_socket, stop))]
    try:
        print(f"Latency Slayer demo: a simulated model answering in ~{args.miss_ms} ms, behind the gateway.")
        print(f"Open the live dashboard now: {url}/", flush=True)
        client = urlsplit(url).netloc
        await _until_ready(client)
        asks = plan(load_workload(), args.requests)
        print(f"Replaying {len(asks)} requests ({args.concurrency} at a time): repeats, paraphrases, "
              "look-alikes and one-offs over 3 routes and 3 models", flush=True)
        await _replay(client, asks, args.concurrency, Progress(len(asks), sys.stdout))
        events = await recorded_events(app)
        print("\n" + report(events, settings.cache_distance_threshold) + "\n", flush=True)
        if args.no_wait:
            return
        print(f"The dashboard stays up at {url}/ (Prometheus figures at {url}/metrics). Ctrl-C to stop.", flush=True)
        await stop.wait()
    finally:
        stop.set()
        await asyncio.gather(*servers, return_exceptions=True)


def _request(netloc: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """One request as a client would send it (the status and its x-cache header); a plain blocking one, run on
    a thread: the demo's few concurrent clients need nothing more, and the gateway's own client is for upstreams."""
    connection = http.client.HTTPConnection(netloc, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("x-cache")
    finally:
        connection.close()


async def _until_ready(netloc: str, timeout: float = 120) -> None:
    """The gateway loads its embedding model at start-up: wait for it rather than time it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await asyncio.to_thread(_request, netloc, "GET", "/healthz"))[0] == 200:
                return
        except OSError:
            pass  # still starting
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the demo gateway did not start within {timeout:.0f} s")


async def _replay(client: str, asks: list[Ask], concurrency: int, progress: Progress) -> None:
    queue: asyncio.Queue[Ask] = asyncio.Queue()
    for ask in asks:
        queue.put_nowait(ask)

    async def worker() -> None:
        while not queue.empty():
            progress.advance(await _send(client, queue.get_nowait()))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _send(netloc: str, ask: Ask) -> str:
    body = {"model": ask.model, "messages": [{"role": "user", "content": ask.prompt}], "stream": ask.stream}
    headers = {"x-route": ask.route, "authorization": f"Bearer {DEMO_KEY}", "content-type": "application/json"}
    status, state = await asyncio.to_thread(_request, netloc, "POST", "/v1/chat/completions", orjson.dumps(body),
                                            headers)
    return state or "error" if status == 200 else "error"
