"""`python -m bench.run`: measure our gateway and LiteLLM's proxy side by side, against the same fake
upstream and the same Redis 8, and write bench/results/results.{json,md}."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import load, probes, report, services
from bench.workload import PAIRS, body, novel_prompts
from tests.support.fake_upstream import FakeUpstream
from tests.support.redis_server import RedisServer

UPSTREAM_SECONDS = 0.3  # the fake upstream's chat latency, as in the peers' published comparison


@dataclass(frozen=True)
class Plan:
    repeats: int  # passes over the question set at concurrency 1
    misses: int
    load_secs: float
    concurrency: tuple[int, ...]
    workers: int
    with_litellm: bool

    @property
    def steps(self) -> int:
        per_target = 4 + 2 * len(self.concurrency)
        return 2 + per_target * (2 if self.with_litellm else 1)


FULL = Plan(repeats=10, misses=40, load_secs=8, concurrency=(16, 64), workers=2, with_litellm=True)
QUICK = Plan(repeats=1, misses=3, load_secs=1, concurrency=(16,), workers=1, with_litellm=False)


def _is_hit(sample: load.Sample) -> bool:
    # Peers do not all say "hit" in a header; anything far faster than the upstream was served from cache.
    return sample.cache == "hit" or (not sample.cache and sample.seconds < UPSTREAM_SECONDS / 2)


def measure(url: str, pid: int, floor: dict[str, float], plan: Plan, progress: report.Progress,
            tag: str) -> dict[str, Any]:
    questions = [body(question) for question, _ in PAIRS]
    paraphrases = [body(paraphrase) for _, paraphrase in PAIRS]
    novel = novel_prompts(tag)
    load.sequential(url, questions)  # fill: one miss per question
    time.sleep(0.5)  # cache writes happen after the response
    progress.step(f"{tag}: exact hits at concurrency 1")
    exact = [s for s in load.sequential(url, questions * plan.repeats) if _is_hit(s)]
    progress.step(f"{tag}: semantic hits at concurrency 1")
    sent = load.sequential(url, paraphrases * plan.repeats)
    semantic = [s for s in sent if _is_hit(s) and s.layer != "exact"]
    progress.step(f"{tag}: misses at concurrency 1")
    misses = load.sequential(url, [body(next(novel)) for _ in range(plan.misses)])
    progress.step(f"{tag}: streamed misses at concurrency 1")
    firsts = load.time_to_first_byte(url, [body(next(novel), stream=True) for _ in range(plan.misses)])
    results: dict[str, Any] = {"c1": {
        "exact_hit": report.percentiles_ms([s.seconds for s in exact]),
        "semantic_hit": report.percentiles_ms([s.seconds for s in semantic]),
        "semantic_hit_share": f"{len(semantic)}/{len(sent)}",
        "miss_overhead_p50": round(float(np.median([s.seconds for s in misses])) * 1000 - floor["miss_p50"], 3),
        "ttfb_overhead_p50": round(float(np.median(firsts)) * 1000 - floor["ttfb_p50"], 3),
    }, "load": {}}
    for connections in plan.concurrency:
        progress.step(f"{tag}: exact hits at concurrency {connections}")
        cpu_before = probes.cpu_seconds(pid)
        exact_load = load.wrk(url, questions, connections=connections, seconds=plan.load_secs)
        if connections == plan.concurrency[0]:
            cpu = probes.cpu_seconds(pid) - cpu_before
            results["load"]["cpu_ms_per_exact_hit"] = round(cpu * 1000 / max(exact_load["requests"], 1), 3)
        results["load"][f"exact_c{connections}"] = exact_load
        progress.step(f"{tag}: semantic hits at concurrency {connections}")
        results["load"][f"semantic_c{connections}"] = load.wrk(
            url, paraphrases, connections=connections, seconds=plan.load_secs)
    return results


def floor_of(upstream: FakeUpstream, plan: Plan) -> dict[str, float]:
    """The same requests sent straight to the upstream: what every figure above it is compared with."""
    novel = novel_prompts("direct")
    misses = load.sequential(upstream.base_url, [body(next(novel)) for _ in range(plan.misses)])
    firsts = load.time_to_first_byte(upstream.base_url, [body(next(novel), stream=True) for _ in range(plan.misses)])
    return {"miss_p50": float(np.median([s.seconds for s in misses])) * 1000,
            "ttfb_p50": float(np.median(firsts)) * 1000}


def bytes_per_entry(url: str, redis_url: str, upstream: FakeUpstream, entries: int) -> float:
    upstream.latency = 0  # filling is not what is measured
    before = probes.redis_used_memory(redis_url)
    load.sequential(url, [body(prompt) for prompt, _ in zip(novel_prompts("fill"), range(entries), strict=False)])
    time.sleep(0.5)
    upstream.latency = UPSTREAM_SECONDS
    return round((probes.redis_used_memory(redis_url) - before) / entries, 1)


@contextlib.contextmanager
def _infrastructure() -> Iterator[tuple[FakeUpstream, RedisServer]]:
    upstream = FakeUpstream(latency=UPSTREAM_SECONDS, latency_paths=frozenset({"/v1/chat/completions"}))
    with upstream, RedisServer() as redis_server:
        yield upstream, redis_server


def run(plan: Plan, output: Path) -> dict[str, Any]:
    progress = report.Progress(plan.steps)
    logs = Path(tempfile.mkdtemp(prefix="latency-slayer-bench-"))
    targets: dict[str, dict[str, Any]] = {}
    with _infrastructure() as (upstream, redis_server):
        progress.step("direct to upstream (the floor)")
        floor = floor_of(upstream, plan)
        env = {"REDIS_URL": redis_server.url, "INDEX_NAME": "idx:bench", "KEY_PREFIX": "bench:",
               "CACHE_DISTANCE_THRESHOLD": "0.2"}
        with services.gateway(upstream=upstream.base_url, workers=plan.workers, logs=logs, env=env) as ours:
            name = f"latency-slayer ({plan.workers} worker{'s' if plan.workers > 1 else ''})"
            targets[name] = measure(ours.url, ours.pid, floor, plan, progress, "ours")
            targets[name]["startup_secs"] = round(ours.startup_secs, 3)
            progress.step("ours: Redis memory per entry")
            targets[name]["redis_bytes_per_entry"] = bytes_per_entry(ours.url, redis_server.url, upstream,
                                                                     200 if plan is QUICK else 2000)
        if plan.with_litellm:
            with services.litellm(upstream=upstream.base_url, redis_url=redis_server.url, similarity=0.8,
                                  logs=logs) as peer:
                targets["LiteLLM proxy (redis-semantic, 1 worker)"] = measure(peer.url, peer.pid, floor, plan,
                                                                               progress, "litellm")
    results = {"floor": floor, "upstream_seconds": UPSTREAM_SECONDS, "plan": plan.__dict__, "targets": targets}
    report.write(results, output)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny counts, no LiteLLM")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    results = run(QUICK if args.quick else FULL, args.output)
    print(report.markdown(results["targets"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
