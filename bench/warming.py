"""What a warming run started with `POST /admin/warm` costs the users of the same gateway: `latency-slayer serve`
(one worker, the in-process store) in front of the fake upstream answering in `--upstream-ms`; exact-hit p50/p95
at concurrency 1 while idle, then while a run warms novel prompts at each concurrency, with the run's pace (warmed
per second) and the gateway's CPU time per warmed request.

    .venv/bin/python -m bench.warming [--concurrency 1,4,8] [--upstream-ms 50] [--hits 300]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench import load, services, workload
from bench.observability import cpu_secs
from bench.workload import body
from tests.support.fake_upstream import FakeUpstream

ADMIN = "bench-admin-token"
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}", "x-warm-key": "sk-bench-tenant"}
RUN_PROMPTS = 20_000  # more than any run gets through while the hits are measured: it is cancelled after


def hit_figures(url: str, bodies: list[bytes]) -> dict[str, float]:
    hits = sorted(sample.seconds * 1000 for sample in load.sequential(url, bodies) if sample.hit)
    return {"hit_p50_ms": round(statistics.median(hits), 2), "hit_p95_ms": round(hits[int(len(hits) * 0.95)], 2)}


def during_a_run(gateway: services.Service, bodies: list[bytes], concurrency: int) -> dict[str, float]:
    origin = gateway.url.removesuffix("/v1")
    prompts = itertools.islice(workload.novel_prompts(f"warm-{concurrency}"), RUN_PROMPTS)
    file = b"\n".join(orjson.dumps({"prompt": prompt}) for prompt in prompts)
    cpu = cpu_secs(gateway.pid)
    started = time.perf_counter()
    job = httpx.post(f"{origin}/admin/warm", params={"concurrency": concurrency}, content=file,
                     headers=ADMIN_HEADERS, timeout=60).json()["id"]
    time.sleep(1.0)  # under way
    figures = hit_figures(gateway.url, bodies)
    ended = httpx.delete(f"{origin}/admin/warm/{job}", headers=ADMIN_HEADERS, timeout=30).json()
    seconds, cpu = time.perf_counter() - started, cpu_secs(gateway.pid) - cpu
    return {**figures, "warmed_per_s": round(ended["warmed"] / seconds, 1),
            # The hits' own CPU is counted too; at about 0.2 ms each it is a small share of a miss's.
            "cpu_ms_per_warmed": round(cpu * 1000 / max(ended["warmed"], 1), 2), "warmed": ended["warmed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--upstream-ms", type=int, default=50)
    parser.add_argument("--hits", type=int, default=300)
    args = parser.parse_args()
    results = {}
    with FakeUpstream(latency=args.upstream_ms / 1000) as upstream, tempfile.TemporaryDirectory() as logs:
        env = {"ADMIN_TOKEN": ADMIN, "ACCESS_LOG": "off"}
        with services.gateway(upstream=upstream.base_url, workers=1, logs=Path(logs), env=env) as gateway:
            questions = [body(question) for question in workload.questions()]
            load.sequential(gateway.url, questions)  # stores them
            bodies = list(itertools.islice(itertools.cycle(questions), args.hits))
            results["idle"] = hit_figures(gateway.url, bodies)
            print("idle", results["idle"], flush=True)
            for concurrency in (int(part) for part in args.concurrency.split(",")):
                results[f"warming at concurrency {concurrency}"] = figures = during_a_run(gateway, bodies,
                                                                                          concurrency)
                print(f"warming at concurrency {concurrency}", figures, flush=True)
    print(json.dumps({"upstream_ms": args.upstream_ms, **results}, indent=2))


if __name__ == "__main__":
    main()
