"""A tiny run of `bench.warming` keeps it from rotting: the gateway serves hits while idle and while a run started
with `POST /admin/warm` warms, and the run's pace and cost come out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_warming_benchmark_measures_hits_during_a_run() -> None:
    completed = subprocess.run([sys.executable, "-m", "bench.warming", "--concurrency", "2", "--hits", "20"],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    results = json.loads(completed.stdout[completed.stdout.index("\n{") + 1:])
    assert results["idle"]["hit_p50_ms"] > 0
    during = results["warming at concurrency 2"]
    assert during["warmed"] > 0 and during["warmed_per_s"] > 0 and during["hit_p95_ms"] >= during["hit_p50_ms"]
