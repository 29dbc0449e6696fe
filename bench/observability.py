"""What the access log and OpenTelemetry tracing cost an exact hit: the gateway as users run it (`latency-slayer
serve`, one worker, the in-process store, so the hit path is the cheapest it gets and any cost shows), with both off,
with the access log on (its JSON lines written to a file, as a container's stderr is), with tracing on
(`OTEL_TRACES_EXPORTER=otlp`, sent to an OTLP/HTTP receiver on loopback) for every request, then for 1 %, in
alternating rounds: exact-hit p50 and the gateway's CPU time per hit at concurrency 1, and hits/s under `wrk`.

    .venv/bin/python -m bench.observability [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from bench import load, services, workload
from bench.workload import body
from tests.support.fake_upstream import FakeUpstream
from tests.support.otlp_receiver import OtlpReceiver


def cpu_secs(pid: int) -> float:
    """The process's CPU time so far (user and system): unlike a rate, barely moved by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(upstream: str, env: dict[str, str], *, seconds: int, logs: Path) -> dict[str, float]:
    with services.gateway(upstream=upstream, workers=1, logs=logs, env=env) as gateway:
        bodies = [body(question) for question in workload.questions()]
        load.sequential(gateway.url, bodies)  # stores them
        load.sequential(gateway.url, bodies * 5)  # warms up
        cpu = cpu_secs(gateway.pid)
        samples = load.sequential(gateway.url, bodies * 100)
        cpu = cpu_secs(gateway.pid) - cpu
        hits = [sample.seconds for sample in samples if sample.hit]
        run = load.wrk(gateway.url, bodies, connections=16, seconds=seconds)
    return {"exact_hit_p50_ms": round(statistics.median(hits) * 1000, 3), "hits_per_s": run["hits_per_s"],
            "cpu_us_per_hit": round(cpu / len(samples) * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    with FakeUpstream() as upstream, OtlpReceiver() as collector, tempfile.TemporaryDirectory() as logs:
        on = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
        modes = {"off": {"ACCESS_LOG": "off"}, "access log": {"LOG_LEVEL": "info", "ACCESS_LOG": "info"},
                 "tracing": {"ACCESS_LOG": "off", **on},
                 "tracing 1 % sampled": {"ACCESS_LOG": "off", **on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                         "OTEL_TRACES_SAMPLER_ARG": "0.01"}}
        for _ in range(args.rounds):
            for mode, env in modes.items():
                figures = measure(upstream.base_url, env, seconds=args.seconds, logs=Path(logs))
                results.setdefault(mode, []).append(figures)
                print(mode, figures, flush=True)
        exported = len(collector.spans)
    summary = {mode: {figure: statistics.median(run[figure] for run in runs) for figure in runs[0]}
               for mode, runs in results.items()}
    print(json.dumps({"median of rounds": summary, "spans received": exported}, indent=2))


if __name__ == "__main__":
    main()
