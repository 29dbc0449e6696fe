"""A tiny run of `bench.freshness` keeps it from rotting: every mode replays the conversations through a served
gateway and the table comes out; the features it measures show in the figures (stale serves and warming make hits
where everything off makes none, and their upstream spend is counted as background)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.conversations import commonest, conversations
from bench.freshness import PREFETCH, REFRESH, SWR, mode_settings

ROOT = Path(__file__).resolve().parents[2]


def test_freshness_benchmark_runs_every_mode(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.freshness", "--conversations", "30", "--seconds", "3", "--ttl", "2",
         "--warm", "3", "--modes", "all off,stale-while-revalidate,warming first", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    results = orjson.loads((tmp_path / "freshness.json").read_bytes())
    assert (tmp_path / "freshness.md").read_text().strip() in completed.stdout
    modes = results["modes"]
    assert list(modes) == ["all off", "stale-while-revalidate", "warming first"]
    for mode in modes.values():
        assert mode["requests"] == results["plan"]["requests"] and mode["errors"] == 0
        assert mode["user_calls"] > 0 and mode["user_tokens"] > 0 and mode["ms"]["p95"] > 0
    off, stale, warmed = modes.values()
    assert {"refresh", "prefetch"} <= off["background"].keys()
    assert all(figure == 0 for spent in off["background"].values() for figure in spent.values())
    assert stale["hit_rate"] > off["hit_rate"] and stale["background"]["refresh"]["calls"] > 0
    assert warmed["background"]["warming"]["calls"] == 3 and warmed["background"]["warming"]["tokens"] > 0
    assert warmed["background"]["warming"]["written"] == 3  # the yield's first half: what warming wrote
    assert warmed["user_calls"] < off["user_calls"]


def test_the_workload_is_deterministic_and_its_follow_ups_recur() -> None:
    planned = conversations(200, 10)
    assert planned == conversations(200, 10)
    assert planned[0].start == 0 and planned[-1].start < 10
    assert any(len(conversation.turns) > 1 for conversation in planned)
    top = commonest(planned, 10)
    assert len(top[0]) == 1 and any(len(turns) == 2 for turns in top)  # follow-ups among the commonest requests


def test_modes_joined_by_a_plus_take_all_their_settings() -> None:
    assert mode_settings("stale-while-revalidate+prefetch") == (SWR | PREFETCH, False)
    assert mode_settings("refresh-ahead+warming first") == (REFRESH, True)
    with pytest.raises(SystemExit, match="no mode 'prefetc'"):
        mode_settings("stale-while-revalidate+prefetc")
