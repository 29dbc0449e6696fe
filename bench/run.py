"""`python -m bench.run`: measure our gateway and LiteLLM's proxy side by side, against the same fake
upstream and the same Redis 8, with a direct-to-upstream run as the floor, and write
bench/results/results.{json,md}."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import apis, load, measure, probes, report, services
from bench.embeddings import EmbeddingServer
from bench.plan import FULL, QUICK, SMOKE, Plan
from bench.workload import body, questions
from tests.support.fake_upstream import FakeUpstream
from tests.support.redis_server import RedisServer

LITELLM = "LiteLLM proxy (redis-semantic, 1 worker)"
METRICS_STREAM = "bench:analytics"


@contextlib.contextmanager
def _upstream_at_once(upstream: FakeUpstream) -> Iterator[None]:
    """Start-up and cache filling are not what is measured: the upstream answers at once meanwhile."""
    latency, upstream.latency = upstream.latency, 0
    try:
        yield
    finally:
        upstream.latency = latency


def _redis_reading(url: str) -> tuple[int, int, int]:
    return probes.redis_used_memory(url), probes.indexed_documents(url), probes.key_memory(url, METRICS_STREAM)


def bytes_per_entry(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict[str, float]:
    """Growth of Redis' `used_memory` while a service ran, less our metrics events, per entry it indexed: every
    miss of the run stored one (novel prompts, and paraphrases that missed), so this is thousands of entries."""
    entries = max(after[1] - before[1], 1)
    return {"entries": entries, "bytes": round((after[0] - before[0] - (after[2] - before[2])) / entries, 1),
            "metrics_bytes": round((after[2] - before[2]) / entries, 1)}


def _service(started: contextlib.AbstractContextManager[services.Service], name: str, plan: Plan,
             results: dict[str, Any], upstream: FakeUpstream, redis_server: RedisServer, progress: report.Progress,
             extra_cpu: Any = lambda: 0.0, fresh: apis.Fresh | None = None) -> None:
    """Measure the service `started`; `fresh` starts another process of it, for the comparison of the APIs its
    cache keeps (`bench.apis`)."""
    tag = name.split(" ")[0]
    progress.step(f"{tag}: starting")
    before = _redis_reading(redis_server.url)
    with contextlib.ExitStack() as stack:
        with _upstream_at_once(upstream):
            service = stack.enter_context(started)
            # The answers hits come from, in both modes: LiteLLM keeps a streamed answer apart from a plain one.
            load.sequential(service.url, [body(q) for q in questions()])
            load.time_to_first_byte(service.url, [body(q, stream=True) for q in questions()])
        time.sleep(0.5)  # answers are stored after they are sent
        results["services"][name] = figures = {"startup_secs": round(service.startup_secs, 3)}
        meter = probes.CpuMeter(service.pid, redis_server.pid or 0, extra_cpu)
        figures.update(measure.service(service.url, plan, results["floor"], meter, progress, tag))
        if fresh is not None:
            figures["apis"] = apis.measure(service.url, plan, meter, fresh,
                                           lambda label: progress.step(f"{tag}: {label}"))
        time.sleep(1)  # the last answers are stored after they are sent
        memory = bytes_per_entry(before, _redis_reading(redis_server.url))
        figures["redis_bytes_per_entry"] = memory["bytes"]
        figures["redis_metrics_bytes_per_entry"] = memory["metrics_bytes"]
        figures["redis_entries_measured"] = memory["entries"]


def _sizes(entries: int, results: dict[str, Any], output: Path) -> None:
    from bench import sizes  # embeds thousands of questions as it loads: only when asked for

    results["sizes"] = sizes.run_sizes(entries, ("float32", "float16", "int8"), output=output)
    results["sizes_markdown"] = sizes.markdown(results["sizes"]).splitlines()


def run(plan: Plan, output: Path, *, sizes: int = 0) -> dict[str, Any]:
    progress = report.Progress(plan.steps(len(measure.WORKLOADS)) + apis.steps(plan) + (1 if sizes else 0))
    logs = Path(tempfile.mkdtemp(prefix="latency-slayer-bench-"))
    began = time.monotonic()
    results: dict[str, Any] = {"when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                               "cpus": os.cpu_count(), "plan": plan.as_dict(), "logs": str(logs), "services": {}}
    upstream = FakeUpstream(latency=plan.upstream_secs, latency_paths=frozenset({"/v1/chat/completions"}))
    try:
        with upstream, RedisServer() as redis_server, contextlib.ExitStack() as stack:
            results["floor"] = measure.direct(upstream.base_url, plan, progress)
            env = {"REDIS_URL": redis_server.url, "ANTHROPIC_BASE_URL": upstream.origin,
                   "INDEX_NAME": "idx:bench", "KEY_PREFIX": "bench:",
                   "METRICS_STREAM": METRICS_STREAM, "CACHE_DISTANCE_THRESHOLD": "0.2"}
            ours = f"latency-slayer ({plan.workers} worker{'s' if plan.workers > 1 else ''})"
            def ours_started() -> contextlib.AbstractContextManager[services.Service]:
                return services.gateway(upstream=upstream.base_url, workers=plan.workers, logs=logs, env=env)

            _service(ours_started(), ours, plan, results, upstream, redis_server, progress, fresh=ours_started)
            if plan.with_litellm:
                embeddings = stack.enter_context(EmbeddingServer())
                started = services.litellm(upstream=upstream.base_url, embeddings=embeddings.base_url,
                                           redis_url=redis_server.url, similarity=0.8, logs=logs)
                _service(started, LITELLM, plan, results, upstream, redis_server, progress,
                         lambda: embeddings.cpu_seconds)
        if sizes:
            progress.step(f"cache sizes: {sizes:,} entries per vector type")
            _sizes(sizes, results, output)
    except BaseException as exc:
        results["incomplete"] = f"stopped by {type(exc).__name__}: {exc}"
        raise
    finally:
        results["seconds"] = round(time.monotonic() - began, 1)
        if "floor" in results:
            report.write(results, output, measure.WORKLOADS)
        progress.finish()
    return results


def _terminate_gracefully(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds every `with`, so all started services stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a short run (~4 minutes): small counts, no LiteLLM")
    size.add_argument("--smoke", action="store_true",
                      help="the test suite's run (~1.5 minutes): --quick with fewer rounds, its figures mean little")
    parser.add_argument("--sizes", type=int, default=0, metavar="N",
                        help="also bulk-load N entries per vector type into Redis (bench/sizes.py)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate_gracefully)
    try:
        results = run(SMOKE if args.smoke else QUICK if args.quick else FULL, args.output, sizes=args.sizes)
    except KeyboardInterrupt:
        print(f"stopped; what was measured so far is in {args.output}", file=sys.stderr)
        return 130
    print(report.markdown(results, measure.WORKLOADS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
