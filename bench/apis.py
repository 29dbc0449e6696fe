"""Hits of every API the gateway caches, measured alike in one run: the benchmark's questions stored through each
API (chat completions, the Responses API, Anthropic Messages, legacy completions), then exact and semantic hits at
concurrency 1 and exact hits under load, so each API's hit path is compared with chat's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from bench import load, workload
from bench.measure import hit_latency
from bench.plan import Plan

MODEL = "bench-apis"  # apart from the main workloads' entries


def _chat(prompt: str) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": prompt}]})


def _responses(prompt: str) -> bytes:
    return orjson.dumps({"model": MODEL, "input": prompt})


def _messages(prompt: str) -> bytes:
    return orjson.dumps({"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": prompt}]})


def _completions(prompt: str) -> bytes:
    return orjson.dumps({"model": MODEL, "prompt": prompt, "max_tokens": 256})


# name -> (path below /v1, request body of a prompt)
APIS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "chat": ("/chat/completions", _chat),
    "responses": ("/responses", _responses),
    "messages": ("/messages", _messages),
    "completions": ("/completions", _completions),
}


def steps(plan: Plan) -> int:
    return len(APIS) * (1 + len(plan.concurrency))


def measure(url: str, plan: Plan, step: Callable[[str], None]) -> dict[str, Any]:
    """Per API: exact and semantic hit latency at concurrency 1, and exact hits under load at each concurrency.
    Each paraphrase is asked once before it is measured, so every API's semantic hits read its vector from the
    recent-prompt cache alike."""
    results: dict[str, Any] = {}
    questions, paraphrases = workload.questions(), workload.paraphrases()
    for name, (path, build) in APIS.items():
        step(f"{name}: hits at concurrency 1")
        load.sequential(url, [build(question) for question in questions], path=path)  # stored (misses)
        load.sequential(url, [build(paraphrase) for paraphrase in paraphrases], path=path)
        exact = load.sequential(url, [build(question) for question in questions] * plan.repeats, path=path)
        semantic = load.sequential(url, [build(paraphrase) for paraphrase in paraphrases] * plan.repeats, path=path)
        figures: dict[str, Any] = {"exact_hit": hit_latency(exact), "semantic_hit": hit_latency(semantic), "load": {}}
        for connections in plan.concurrency:
            step(f"{name}: exact hits at concurrency {connections}")
            figures["load"][str(connections)] = load.wrk(url, [build(question) for question in questions],
                                                         connections=connections, seconds=plan.load_secs,
                                                         path=path)
        results[name] = figures
    return results
