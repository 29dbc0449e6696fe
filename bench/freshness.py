"""`python -m bench.freshness`: the multi-turn FAQ workload (`bench/conversations.py`) replayed through a served
gateway (`latency-slayer serve`, memory store) against the benchmark's fake upstream (300 ms a chat answer), with
a fixed TTL short enough to expire during the run, once per mode: everything off, stale-while-revalidate,
refresh-ahead, prefetch, warming first (`latency-slayer warm`'s run, in-process, with the workload's commonest
requests), all on; or modes joined by "+". Per mode: hit rate, the p50/p95 latency users saw, and upstream calls
and tokens, caused by users and spent in the background (refresh, prefetch, warming). Writes
bench/results/freshness.{json,md}."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import services
from bench.conversations import Conversation, commonest, conversations
from bench.sizes import RESULTS, percentiles
from gateway.metrics.prices import PriceTable
from gateway.warming.command import read_file, warm
from gateway.warming.run import Budget
from tests.support.fake_upstream import FakeUpstream

MODEL = "gpt-4o-mini"
UPSTREAM_SECS = 0.3  # as bench/run.py
THINK_SECS = 0.5  # between a user's reading an answer and asking the next question
BUDGET = {"REFRESH_BUDGET_REQUESTS": "100000", "REFRESH_BUDGET_TOKENS": "100000000"}
SWR = {"STALE_SECS": "3600", "STALE_MAX_SECS": "3600"}
REFRESH = {"REFRESH_AHEAD_HITS": "2", "REFRESH_AHEAD_SHARE": "0.5"}
PREFETCH = {"PREFETCH": "true", "PREFETCH_MIN_COUNT": "3", "PREFETCH_MIN_PROB": "0.3"}
MODES: dict[str, tuple[dict[str, str], bool]] = {  # name: (settings, warm first)
    "all off": ({}, False),
    "stale-while-revalidate": (SWR, False),
    "refresh-ahead": (REFRESH, False),
    "prefetch": (PREFETCH, False),
    "warming first": ({}, True),
    "all on": (SWR | REFRESH | PREFETCH, True),
}


def mode_settings(name: str) -> tuple[dict[str, str], bool]:
    """The settings and warming of a mode, or of modes joined by "+" (all of theirs): "stale-while-revalidate+prefetch"
    tells what one feature adds to another."""
    settings: dict[str, str] = {}
    warm_first = False
    for part in name.split("+"):
        if part not in MODES:
            raise SystemExit(f"no mode {part!r}: choose from {', '.join(MODES)}, or join them with +")
        settings, warm_first = settings | MODES[part][0], warm_first or MODES[part][1]
    return settings, warm_first


BACKGROUND = re.compile(r'latency_slayer_background_(calls|tokens|written|hits)\{window="1h",kind="(\w+)"\} (\d+)')


def _say(message: str) -> None:
    print(f"[freshness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _body(turns: tuple[str, ...], answers: list[str]) -> bytes:
    messages: list[dict[str, str]] = []
    for question, answer in zip(turns, answers, strict=False):
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": turns[len(answers)]})
    return orjson.dumps({"model": MODEL, "messages": messages})


async def _ask(client: httpx.AsyncClient, turns: tuple[str, ...], answers: list[str]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post("/chat/completions", content=_body(turns, answers))
    return response, time.perf_counter() - started


async def _converse(client: httpx.AsyncClient, conversation: Conversation, began: float,
                    seen: list[dict[str, Any]]) -> None:
    await asyncio.sleep(max(0.0, began + conversation.start - time.perf_counter()))
    answers: list[str] = []
    for depth in range(len(conversation.turns)):
        response, secs = await _ask(client, conversation.turns[: depth + 1], answers)
        payload = response.json()
        usage = payload.get("usage") or {}
        hit = response.headers.get("x-cache") == "hit"
        seen.append({"status": response.status_code, "hit": hit, "ms": secs * 1000,
                     "tokens": 0 if hit else usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)})
        if response.status_code != 200:
            return
        answers.append(payload["choices"][0]["message"]["content"])
        await asyncio.sleep(THINK_SECS)


def _client(service: services.Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, timeout=30, limits=httpx.Limits(max_connections=64),
                             headers={"authorization": f"Bearer {services.BENCH_KEY}",
                                      "content-type": "application/json"})


async def _replay(service: services.Service, planned: list[Conversation]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with _client(service) as client:
        began = time.perf_counter()
        await asyncio.gather(*(_converse(client, conversation, began, seen) for conversation in planned))
    return seen


async def _histories(service: services.Service, sequences: list[tuple[str, ...]]) -> list[bytes]:
    """Each sequence's last question as a warming line, after the answers its earlier questions get now."""
    lines = []
    async with _client(service) as client:
        for turns in sequences:
            answers: list[str] = []
            for depth in range(len(turns) - 1):
                response, _ = await _ask(client, turns[: depth + 1], answers)
                answers.append(response.json()["choices"][0]["message"]["content"])
            lines.append(_body(turns, answers))
    return lines


def _warm(service: services.Service, planned: list[Conversation], count: int, logs: Path) -> dict[str, int]:
    """`latency-slayer warm` with the workload's `count` commonest requests, shallowest first (a follow-up's
    history holds the answer its opening was warmed with): its file and its run, in this process, since starting
    an interpreter for each depth would take most of a TTL of a few seconds before the replay began."""
    spent = {"calls": 0, "tokens": 0}
    sequences = commonest(planned, count)
    for depth in sorted({len(turns) for turns in sequences}):
        lines = asyncio.run(_histories(service, [turns for turns in sequences if len(turns) == depth]))
        path = logs / f"warm-{depth}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        spend = asyncio.run(warm(read_file(path, MODEL), url=service.url, key=services.BENCH_KEY, budget=Budget(),
                                 concurrency=4, prices=PriceTable()))
        if spend.states.get("failed"):
            raise SystemExit(f"warming failed: {spend.states}")
        spent["tokens"] += spend.prompt_tokens + spend.completion_tokens
    return spent


def _background(metrics: str) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for what, kind, value in BACKGROUND.findall(metrics):
        found.setdefault(kind, {"calls": 0, "tokens": 0, "written": 0, "hits": 0})[what] = int(value)
    return found


def run_mode(name: str, upstream: FakeUpstream, planned: list[Conversation], ttl: int, warm: int,
             logs: Path) -> dict[str, Any]:
    settings, warm_first = mode_settings(name)
    env = {"RESP_TTL_SECS": str(ttl), "RESP_TTL_SLIDING": "false", **BUDGET, **settings}
    with services.gateway(upstream=upstream.base_url, workers=1, logs=logs, env=env) as service:
        calls = upstream.calls()
        warming = _warm(service, planned, warm, logs) if warm_first else {"calls": 0, "tokens": 0}
        warming["calls"] = upstream.calls() - calls
        calls = upstream.calls()
        seen = asyncio.run(_replay(service, planned))
        time.sleep(1.0)  # background calls the last answers started
        background = _background(httpx.get(service.url.removesuffix("/v1") + "/metrics", timeout=10).text)
        replay_calls = upstream.calls() - calls
    background_calls = sum(spent["calls"] for spent in background.values())
    if warm_first:  # its spend as the run counted it; what it wrote and their hits from the gateway's figures
        background["warming"] = {"written": 0, "hits": 0, **background.get("warming", {}), **warming}
    hits = sum(ask["hit"] for ask in seen)
    return {"requests": len(seen), "errors": sum(ask["status"] != 200 for ask in seen),
            "hit_rate": round(hits / len(seen), 3), "ms": percentiles([ask["ms"] / 1000 for ask in seen]),
            "user_calls": replay_calls - background_calls,
            "user_tokens": sum(ask["tokens"] for ask in seen),
            "background": background}


def table(results: dict[str, Any]) -> str:
    rows = ["| mode | hit rate | p50 ms | p95 ms | upstream calls: users | background | tokens: users | "
            "background | yield: answers written → later hits |", "|---|---|---|---|---|---|---|---|---|"]
    for name, mode in results["modes"].items():
        spent = mode["background"].values()
        kinds = ", ".join(f"{kind} {figures['calls']}" for kind, figures in mode["background"].items()
                          if figures["calls"])
        rows.append(f"| {name} | {mode['hit_rate']:.0%} | {mode['ms']['p50']:.0f} | {mode['ms']['p95']:.0f} | "
                    f"{mode['user_calls']} | {sum(s['calls'] for s in spent)}{f' ({kinds})' if kinds else ''} | "
                    f"{mode['user_tokens']:,} | {sum(s['tokens'] for s in spent):,} | {_yield(mode['background'])} |")
    plan = results["plan"]
    rows.append("")
    rows.append(f"{plan['conversations']} conversations ({plan['requests']} requests) over {plan['seconds']} s, "
                f"TTL {plan['ttl']} s (fixed), upstream {UPSTREAM_SECS * 1000:.0f} ms, warming: the "
                f"{plan['warm']} commonest requests.")
    return "\n".join(rows)


def _yield(background: dict[str, dict[str, int]]) -> str:
    """Per kind, the answers written without a client asking and the client hits later served from them."""
    return ", ".join(f"{kind} {figures['written']} → {figures['hits']}" for kind, figures in background.items()
                     if figures.get("written") or figures.get("hits")) or "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=24, help="time over which conversations start")
    parser.add_argument("--ttl", type=int, default=6, help="RESP_TTL_SECS (fixed lifetimes)")
    parser.add_argument("--warm", type=int, default=30, help="commonest requests warmed first")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated, from: " + ", ".join(MODES) + "; or several joined by +")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = args.modes.split(",")
    for name in names:
        mode_settings(name)  # a misspelt mode ends the run before it starts, not minutes into it
    planned = conversations(args.conversations, args.seconds)
    results: dict[str, Any] = {"plan": {"conversations": len(planned), "seconds": args.seconds, "ttl": args.ttl,
                                        "warm": args.warm, "requests": sum(len(c.turns) for c in planned),
                                        "upstream_secs": UPSTREAM_SECS, "budget": BUDGET}, "modes": {}}
    upstream = FakeUpstream(latency=UPSTREAM_SECS, latency_paths=frozenset({"/v1/chat/completions"}))
    with upstream, tempfile.TemporaryDirectory() as logs:
        for name in names:
            _say(f"{name}: replaying {len(planned)} conversations")
            results["modes"][name] = run_mode(name, upstream, planned, args.ttl, args.warm, Path(logs))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "freshness.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    text = table(results)
    (args.output / "freshness.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
