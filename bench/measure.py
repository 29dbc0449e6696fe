"""What is measured on each service: latency at concurrency 1 by request class, then every workload under
load at each concurrency, with the service's CPU per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench import load, probes, workload
from bench.plan import Plan
from bench.report import Progress, overhead, percentiles_ms
from bench.workload import body

# name -> what the report calls it. Under load every workload runs at each of the plan's concurrencies.
WORKLOADS = {
    "exact": "exact repeats",
    "exact_stream": "exact repeats, streamed",
    "paraphrase_fresh": "paraphrases never seen before",
    "paraphrase_repeated": "the same 20 paraphrases repeated (vectors from the recent-prompt cache)",
    "novel": "novel prompts (all misses)",
    "mix": "mix: 50 % exact, 20 % fresh paraphrases, 30 % novel",
}
HIT_WORKLOADS = ("exact", "exact_stream", "paraphrase_fresh", "paraphrase_repeated")
_ROTATING = ("exact", "exact_stream", "paraphrase_repeated")
_MAX_RPS = 2500  # more bodies than any service here answers per second, so fresh texts never run out


@dataclass
class Prompts:
    """Where a service's prompts come from: one iterator of each kind, so no fresh text is ever sent twice."""

    fresh: Iterator[str]
    novel: Iterator[str]

    @classmethod
    def seeded(cls, seed: str) -> Prompts:
        return cls(workload.fresh_paraphrases(f"{seed}-fresh"), workload.novel_prompts(f"{seed}-novel"))

    def take(self, kind: Iterator[str], count: int, *, stream: bool = False) -> list[bytes]:
        return [body(next(kind), stream=stream) for _ in range(count)]


def _bodies(name: str, prompts: Prompts, connections: int, seconds: int, upstream_secs: float) -> list[bytes]:
    if name == "exact":
        return [body(q) for q in workload.questions()]
    if name == "exact_stream":
        return [body(q, stream=True) for q in workload.questions()]
    if name == "paraphrase_repeated":
        return [body(p) for p in workload.paraphrases()]
    if name == "novel":
        return prompts.take(prompts.novel, int(connections / upstream_secs * seconds * 1.5) + 20)
    if name == "paraphrase_fresh":
        return prompts.take(prompts.fresh, _MAX_RPS * seconds)
    return workload.mix(f"mix-{connections}", _MAX_RPS * seconds, prompts.fresh, prompts.novel)


def under_load(url: str, name: str, prompts: Prompts, connections: int, plan: Plan,
               meter: probes.CpuMeter | None) -> dict[str, Any]:
    bodies = _bodies(name, prompts, connections, plan.load_secs, plan.upstream_secs)
    before = meter.read() if meter else (0.0, 0.0)
    result: dict[str, Any] = load.wrk(url, bodies, connections=connections, seconds=plan.load_secs)
    if meter:
        after = meter.read()
        requests = max(int(result["requests"]), 1)
        result["cpu_ms_per_request"] = round((after[0] - before[0]) * 1000 / requests, 3)
        result["redis_cpu_ms_per_request"] = round((after[1] - before[1]) * 1000 / requests, 3)
    if name in _ROTATING:
        del result["repeated_bodies"]  # repeating is what they are for
    return result


def hit_latency(samples: list[load.Sample]) -> dict[str, Any]:
    hits = [s.seconds for s in samples if s.hit]
    return {**percentiles_ms(hits), "hits": f"{len(hits)}/{len(samples)}"}


def _misses(samples: list[load.Sample], floor: dict[str, float]) -> dict[str, Any]:
    misses = percentiles_ms([s.seconds for s in samples if not s.hit])
    return {**misses, "misses": f"{misses['n']}/{len(samples)}", "overhead": overhead(misses, floor)}


def at_concurrency_1(url: str, prompts: Prompts, plan: Plan, floor: dict[str, Any],
                     step: Callable[[str], None]) -> dict[str, Any]:
    """Each class of request in turn; the cached questions must be stored already."""
    cached = workload.questions()
    step("exact hits at concurrency 1")
    exact = load.sequential(url, [body(q) for q in cached] * plan.repeats)
    step("fresh paraphrases at concurrency 1")
    fresh = load.sequential(url, prompts.take(prompts.fresh, len(cached) * plan.repeats))
    step("repeated paraphrases at concurrency 1")
    load.sequential(url, [body(p) for p in workload.paraphrases()])  # the first sight of each is fresh
    repeated = load.sequential(url, [body(p) for p in workload.paraphrases()] * plan.repeats)
    step("streamed exact hits at concurrency 1")
    stream_hits = load.time_to_first_byte(url, [body(q, stream=True) for q in cached] * plan.repeats)
    step("misses at concurrency 1")
    misses = load.sequential(url, prompts.take(prompts.novel, plan.misses))
    step("streamed misses at concurrency 1")
    stream_misses = load.time_to_first_byte(url, prompts.take(prompts.novel, plan.misses, stream=True))
    return {"exact_hit": hit_latency(exact), "semantic_hit_fresh": hit_latency(fresh),
            "semantic_hit_repeated": hit_latency(repeated), "stream_hit_ttfb": hit_latency(stream_hits),
            "miss": _misses(misses, floor["miss"]),
            "stream_miss_ttfb": _misses(stream_misses, floor["stream_miss_ttfb"])}


def service(url: str, plan: Plan, floor: dict[str, Any], meter: probes.CpuMeter, progress: Progress,
            tag: str) -> dict[str, Any]:
    prompts = Prompts.seeded("service")  # every service gets the same texts, in the same order
    results: dict[str, Any] = {
        "c1": at_concurrency_1(url, prompts, plan, floor["c1"], lambda label: progress.step(f"{tag}: {label}")),
        "load": {}}
    for name, label in WORKLOADS.items():
        for connections in plan.concurrency:
            progress.step(f"{tag}: {label[:40]} at concurrency {connections}")
            results["load"].setdefault(name, {})[str(connections)] = under_load(url, name, prompts, connections,
                                                                                plan, meter)
    return results


def direct(url: str, plan: Plan, progress: Progress) -> dict[str, Any]:
    """The floor: the same misses sent straight to the upstream."""
    prompts = Prompts.seeded("direct")
    progress.step("direct to upstream (the floor) at concurrency 1")
    misses = load.sequential(url, prompts.take(prompts.novel, plan.misses))
    firsts = load.time_to_first_byte(url, prompts.take(prompts.novel, plan.misses, stream=True))
    results: dict[str, Any] = {"c1": {"miss": percentiles_ms([s.seconds for s in misses]),
                                      "stream_miss_ttfb": percentiles_ms([s.seconds for s in firsts])},
                               "load": {"novel": {}}}
    for connections in plan.concurrency:
        progress.step(f"direct to upstream: novel prompts at concurrency {connections}")
        results["load"]["novel"][str(connections)] = under_load(url, "novel", prompts, connections, plan, None)
    return results
