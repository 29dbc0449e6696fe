"""A short run of the benchmark, so `bench/` cannot rot between the releases it measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_run_measures_every_class_of_request(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--output", str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    (name, ours), = results["targets"].items()
    assert name.startswith("latency-slayer")
    c1 = ours["c1"]
    assert c1["exact_hit"]["n"] > 0 and c1["semantic_hit"]["n"] > 0
    assert 0 < c1["exact_hit"]["p50"] < results["upstream_seconds"] * 1000  # hits never wait for upstream
    assert ours["load"]["exact_c16"]["errors"] == 0 and ours["load"]["exact_c16"]["rps"] > 0
    assert ours["redis_bytes_per_entry"] > 0 and ours["startup_secs"] > 0
    assert "| exact-hit p50 at concurrency 1 (ms) |" in (tmp_path / "results.md").read_text()
