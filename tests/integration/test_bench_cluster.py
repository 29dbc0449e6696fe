"""A tiny run of `bench.cluster` keeps it from rotting: both layouts load, answer lookups and serve hits through two
gateway processes, and the table comes out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = 600  # each filler prompt is embedded (up to 2,000): the smoke run's largest cost, not what it checks


def test_cluster_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--entries", str(ENTRIES), "--scopes", "30", "--hot", "4",
         "--queries", "60", "--seconds", "1", "--connections", "2", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert f"| {ENTRIES:,} entries in 30 scopes | Redis Cluster, 3 masters | single node |" in completed.stdout
    assert "| keys per master |" in completed.stdout and "| exact hits/s, 2 gateways" in completed.stdout
    assert "| machine load average (1 min) before / after |" in completed.stdout
    results = orjson.loads((tmp_path / "cluster.json").read_bytes())
    assert (tmp_path / "cluster.md").read_text().strip() in completed.stdout
    cluster, single = results["layouts"]["Redis Cluster, 3 masters"], results["layouts"]["single node"]
    assert len(cluster["shards"]) == 3 and all(shard["keys"] > 100 for shard in cluster["shards"])  # scopes spread
    assert len(single["shards"]) == 1
    for layout in (cluster, single):
        assert sum(shard["keys"] for shard in layout["shards"]) > ENTRIES and layout["bytes_per_entry"] > 0
        for lookup in layout["lookups"]:
            assert lookup["found"] == "60/60" and lookup["ms"]["p50"] > 0
        exact, semantic = layout["gateways"]["exact"], layout["gateways"]["semantic"]
        assert exact["errors"] == 0 and exact["hits_per_s"] == exact["rps"] > 0
        assert semantic["errors"] == 0 and semantic["hits_per_s"] > 0 and not semantic["repeated_bodies"]
