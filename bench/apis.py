"""Hits of every API the gateway caches, measured alike in one run: the benchmark's questions stored through each
API (chat completions, the Responses API, Anthropic Messages, legacy completions), then exact and semantic hits at
concurrency 1 and under load, so each API's hit path is compared with chat's.

Two cores shared with the load generator (and, on a busy machine, with whatever else runs) make one short run of
an API slower or faster by tens of percent. So the APIs take turns: at concurrency 1 request by request, and each
measurement is repeated for a few rounds, in every round each API right after the other (starting with a different
one each round); an API's figure is the median of its rounds, its ratio to chat's the median of the rounds'
ratios. One gateway process also serves some APIs a few percent faster or slower than the next process does (its
memory's layout, what ran before): under load each round is served by a process of its own, started for it on the
same Redis (the answers stay stored), so no process's luck decides the comparison."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson

from bench import load, probes, services, workload
from bench.measure import hit_latency
from bench.plan import Plan

MODEL = "bench-apis"  # apart from the main workloads' entries
HIT_KINDS = ("exact", "semantic")  # the 20 cached questions word for word; their 20 paraphrases


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
    return len(APIS) + plan.api_rounds * (1 + len(HIT_KINDS) * len(plan.concurrency))


def _turns(round_: int) -> list[str]:
    """Every API once, starting with a different one each round: none is always the first after a pause."""
    names = list(APIS)
    start = round_ % len(names)
    return names[start:] + names[:start]


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median hits/s, and every round's hits/s and CPU per request (for the ratios to chat's,
    round by round)."""
    ranked = sorted(runs, key=lambda run: run["hits_per_s"])
    return {**ranked[(len(ranked) - 1) // 2], "rounds_hits_per_s": [run["hits_per_s"] for run in runs],
            "rounds_cpu_ms_per_request": [run["cpu_ms_per_request"] for run in runs]}


Bodies = dict[str, dict[str, list[bytes]]]  # API -> "exact" or "semantic" -> request bodies


def _latencies(url: str, bodies: Bodies, plan: Plan, step: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Hit latency at concurrency 1, the APIs taking turns request by request."""
    samples: dict[tuple[str, str], list[load.Sample]] = {(name, kind): [] for name in APIS for kind in HIT_KINDS}
    for round_ in range(plan.api_rounds):
        step(f"every API: hits at concurrency 1, round {round_ + 1} of {plan.api_rounds}")
        for kind in HIT_KINDS:
            turns = {(name, kind): (APIS[name][0], bodies[name][kind] * plan.api_repeats) for name in _turns(round_)}
            for request_class, taken in load.interleaved(url, turns).items():
                samples[request_class] += taken
    return {name: {f"{kind}_hit": hit_latency(samples[name, kind]) for kind in HIT_KINDS} for name in APIS}


Fresh = Callable[[], contextlib.AbstractContextManager[services.Service]]  # a gateway process of its own


def _asked_once(url: str, bodies: Bodies, step: Callable[[str], None] = lambda name: None) -> None:
    """Every API's questions, then its paraphrases, asked once (`step` told each API's name first): the first time,
    misses stored and then semantic hits; in a process started later, hits all. Either way each paraphrase's vector
    is then in the process's recent-prompt cache."""
    for name, (path, _) in APIS.items():
        step(name)
        for kind in HIT_KINDS:
            load.sequential(url, bodies[name][kind], path=path)


def _under_load(bodies: Bodies, plan: Plan, meter: probes.CpuMeter, fresh: Fresh,
                step: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {
        name: {kind: {str(c): [] for c in plan.concurrency} for kind in HIT_KINDS} for name in APIS}
    for round_ in range(plan.api_rounds):
        with fresh() as service:
            _asked_once(service.url, bodies)
            its = probes.CpuMeter(service.pid, meter.redis_pid, meter.extra)
            for kind in HIT_KINDS:
                for connections in plan.concurrency:
                    step(f"every API: {kind} hits at concurrency {connections}, round {round_ + 1} of "
                         f"{plan.api_rounds} (a gateway process of its own)")
                    for name in _turns(round_):
                        before = its.read()[0]
                        run = load.wrk(service.url, bodies[name][kind], connections=connections,
                                       seconds=plan.api_load_secs, path=APIS[name][0])
                        run["cpu_ms_per_request"] = round((its.read()[0] - before) * 1000 / max(run["requests"], 1),
                                                          3)
                        del run["repeated_bodies"]  # the same 20 bodies again and again is what is measured
                        runs[name][kind][str(connections)].append(run)
    return {name: {kind: {c: _median_run(rounds) for c, rounds in by_c.items()} for kind, by_c in by_kind.items()}
            for name, by_kind in runs.items()}


def measure(url: str, plan: Plan, meter: probes.CpuMeter, fresh: Fresh,
            step: Callable[[str], None]) -> dict[str, Any]:
    """Per API: exact and semantic hit latency at concurrency 1 (of the service at `url`), and exact and semantic
    hits under load (wrk over the same 20 bodies) at each concurrency, with the CPU per hit of the process serving
    them (`fresh` starts one per round, as the service at `url` was, on its Redis). Each paraphrase is asked once
    before it is measured, so every API's semantic hits read its vector from the recent-prompt cache alike."""
    prompts = {"exact": workload.questions(), "semantic": workload.paraphrases()}
    bodies = {name: {kind: [build(text) for text in texts] for kind, texts in prompts.items()}
              for name, (_, build) in APIS.items()}
    _asked_once(url, bodies, lambda name: step(f"{name}: storing the questions, asking each paraphrase once"))
    latencies = _latencies(url, bodies, plan, step)
    loads = _under_load(bodies, plan, meter, fresh, step)
    return {name: {**latencies[name], "load": loads[name]} for name in APIS}
