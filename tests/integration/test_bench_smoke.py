"""A short run of the benchmark, so `bench/` cannot rot between the releases it measures, and its load driver
sending each body once (the workload's other parts whose mistakes would quietly change what it measures:
unit/test_bench_workload.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

from bench import load
from bench.workload import body
from tests.support.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_benchmark_run_measures_every_class_of_request(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--output", str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=360)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    (name, ours), = results["services"].items()
    assert name.startswith("latency-slayer")
    c1 = ours["c1"]
    upstream_ms = results["plan"]["upstream_secs"] * 1000
    for kind in ("exact_hit", "semantic_hit_fresh", "semantic_hit_repeated", "stream_hit_ttfb"):
        served, sent = map(int, c1[kind]["hits"].split("/"))
        assert served >= 0.9 * sent and 0 < c1[kind]["p50"] < upstream_ms, kind  # hits never wait for upstream
    assert c1["miss"]["misses"] == "3/3" and c1["miss"]["p50"] >= upstream_ms
    assert set(c1["miss"]["overhead"]) == {"p50", "p95", "p99"}
    assert set(results["floor"]["load"]["novel"]) == {"1", "16"}
    for workload in ("exact", "exact_stream", "paraphrase_fresh", "paraphrase_repeated", "novel", "mix"):
        for connections in ("1", "16"):
            run = ours["load"][workload][connections]
            assert run["errors"] == 0 and run["rps"] > 0 and run["cpu_ms_per_request"] > 0, (workload, connections)
            assert not run.get("repeated_bodies"), (workload, connections)
    assert ours["load"]["exact"]["16"]["hits_per_s"] == ours["load"]["exact"]["16"]["rps"]
    assert ours["load"]["paraphrase_fresh"]["16"]["hits_per_s"] > 0
    assert ours["load"]["novel"]["16"]["hits_per_s"] == 0
    assert ours["redis_bytes_per_entry"] > 0 and 0 < ours["startup_secs"] < 60
    assert set(ours["apis"]) == {"chat", "responses", "messages", "completions"}
    rounds = results["plan"]["api_rounds"]
    for api, figures in ours["apis"].items():  # every cached API's hits, exact and semantic, measured alike
        for kind in ("exact", "semantic"):
            served, sent = map(int, figures[f"{kind}_hit"]["hits"].split("/"))
            assert served == sent == 20 * results["plan"]["api_repeats"] * rounds, (api, kind)
            assert 0 < figures[f"{kind}_hit"]["p50"] < upstream_ms, (api, kind)
            for connections in ("1", "16"):
                run = figures["load"][kind][connections]
                assert run["errors"] == 0 and run["hits_per_s"] == run["rps"] > 0, (api, kind, connections)
                assert run["cpu_ms_per_request"] > 0, (api, kind, connections)
                assert len(run["rounds_hits_per_s"]) == len(run["rounds_cpu_ms_per_request"]) == rounds > 1
                assert run["hits_per_s"] == sorted(run["rounds_hits_per_s"])[(rounds - 1) // 2]  # the median
    text = (tmp_path / "results.md").read_text()
    assert "| exact-hit p50 at concurrency 1 <= 1 ms |" in text and "| paraphrases never seen before | 16 |" in text
    assert "Hits by API" in text and "| responses |" in text and "hits/s exact, semantic (c16)" in text
    assert re.search(r"\| chat \|[^\n]*\| 1\.00, 1\.00 \|[^\n]*\| 1\.00, 1\.00 \|", text)  # chat's ratios to itself
    assert re.search(r"Every API within 10 % of chat's hits \(issue 13\): (yes|\*\*no\*\*); the slowest p50", text)
    assert re.search(r"\] (\d+)/\1 \d+:\d\d done", completed.stderr)  # the progress bar reached its end


def test_wrk_sends_each_body_once_until_they_run_out() -> None:
    with FakeUpstream() as upstream:
        bodies = [body(f"prompt number {n}") for n in range(20_000)]
        fresh = load.wrk(upstream.base_url, bodies, connections=4, seconds=1)
        sent = [request.body for request in upstream.requests if request.path.endswith("/chat/completions")]
        # wrk does not count the requests still in flight when its time is up
        assert fresh["errors"] == 0 and fresh["requests"] <= len(sent) <= fresh["requests"] + 4
        assert fresh["requests"] > 20
        assert len(set(sent)) == len(sent) and not fresh["repeated_bodies"]
        assert fresh["hits_per_s"] == 0  # the upstream says nothing of a cache
        rotated = load.wrk(upstream.base_url, bodies[:5], connections=4, seconds=1)
        assert rotated["repeated_bodies"]


def test_interleaved_classes_take_turns_request_by_request() -> None:
    """So that a pause of a busy machine slows every API's concurrency-1 samples alike (bench/apis.py)."""
    with FakeUpstream() as upstream:
        chat = [body(f"chat {n}") for n in range(3)]
        texts = [orjson.dumps({"model": "m", "prompt": f"text {n}"}) for n in range(2)]
        samples = load.interleaved(upstream.base_url, {"chat": ("/chat/completions", chat),
                                                       "text": ("/completions", texts)})
        sent = [request.body for request in upstream.requests if request.method == "POST"]
    assert sent == [chat[0], texts[0], chat[1], texts[1], chat[2]]
    assert [len(samples["chat"]), len(samples["text"])] == [3, 2]
    assert all(sample.seconds > 0 and not sample.hit for sample in samples["chat"] + samples["text"])
