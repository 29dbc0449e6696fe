"""`latency-slayer warm FILE`: read a JSONL file of requests (chat, Responses API, or plain prompts with a model
and a route), send them through a running gateway so it caches their answers, and say what that cost."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.demo.report import Progress
from gateway.errors import StartupError
from gateway.metrics.prices import PriceTable
from gateway.setting_values import positive
from gateway.settings import load_settings
from gateway.warming.requests import WarmRequest, read_warm_lines, warm_route
from gateway.warming.run import Budget, Spend, Warmer, summary

TIMEOUT_SECS = 600  # an upstream answer may take minutes


def add_warm_command(commands: Any) -> None:
    """Register `warm` on the CLI's subparsers."""
    warm = commands.add_parser("warm", help="fill a running gateway's cache from a JSONL file of requests")
    warm.add_argument("file", type=Path, help="one request a line: a chat completion, a Responses API request, or "
                                              '{"prompt": ..., "model": ..., "route": ...}; "route" on any line')
    warm.add_argument("--url", default="http://127.0.0.1:8080/v1", help="the gateway's /v1 URL")
    warm.add_argument("--key", default=None, help="the key to send: its tenant gets the answers (a route in "
                                                  "SHARED_ROUTES: every key)")
    warm.add_argument("--route", type=warm_route, default=None, help="the route of lines that name none")
    warm.add_argument("--concurrency", type=positive, default=4, help="requests in flight at once")
    warm.add_argument("--max-calls", type=positive, default=None, help="upstream calls the run may cause")
    warm.add_argument("--max-tokens", type=positive, default=None, help="tokens the run may spend upstream")
    warm.set_defaults(run=_warm)


def read_file(path: Path, default_model: str, default_route: str | None = None) -> list[WarmRequest]:
    """Every request of the file, or a StartupError naming each bad line before anything is sent."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise StartupError(f"cannot read {path}: {error.strerror}") from None
    requests, problems = read_warm_lines(lines, default_model=default_model, default_route=default_route)
    if problems:
        raise StartupError("\n".join(f"{path}:{number}: {problem}" for number, problem in problems[:20]))
    return requests


def _poster(url: str) -> Any:
    """Requests to the gateway at `url` (its `/v1`), each on a connection of its own in a thread: a warming run
    sends a few at a time, for minutes."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StartupError(f"--url {url!r} is not an http(s):// URL")
    connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection

    def post(request: WarmRequest, headers: list[tuple[str, str]]) -> tuple[int, str | None, bytes]:
        opened = connection(parts.hostname, parts.port, timeout=TIMEOUT_SECS)
        try:
            opened.request("POST", parts.path.rstrip("/") + request.path, body=request.body,
                           headers=dict(request.headers + headers))
            answer = opened.getresponse()
            return answer.status, answer.getheader("x-cache"), answer.read()
        finally:
            opened.close()

    return lambda request, headers: asyncio.to_thread(post, request, headers)


async def warm(requests: list[WarmRequest], *, url: str, key: str | None, budget: Budget, concurrency: int,
               prices: PriceTable, progress: Progress | None = None) -> Spend:
    warmer = Warmer(_poster(url), key=key, budget=budget, concurrency=concurrency, prices=prices,
                    advanced=progress.advance if progress is not None else lambda state: None)
    return await warmer.run(requests)


def _warm(args: argparse.Namespace) -> int:
    settings = load_settings()
    requests = read_file(args.file, settings.gen_model, args.route)
    if not requests:
        print("nothing to warm")
        return 0
    spend = asyncio.run(warm(requests, url=args.url, key=args.key,
                             budget=Budget(calls=args.max_calls, tokens=args.max_tokens),
                             concurrency=args.concurrency, prices=PriceTable(settings.metrics_prices),
                             progress=Progress(len(requests), sys.stderr)))
    print(summary(spend))
    return 1 if spend.states.get("failed") else 0
