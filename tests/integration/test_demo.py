"""`latency-slayer demo` run to completion as a newcomer would, with a small request count: the gateway in
front of its simulated upstream, the replay, and the summary it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.demo.report import report
from gateway.demo.workload import load_workload, plan
from gateway.metrics.events import Event
from tests.support.processes import clean_env

REQUESTS = 40
ROW = re.compile(r"^  (hits \(\w+( \w+)?\)|misses|bypass or error|all)\s+(\d+)\s+\d+%", re.MULTILINE)


def summary_rows(out: str) -> dict[str, int]:
    return {match[0]: int(match[2]) for match in ROW.findall(out)}


def event(outcome: str, layer: str | None = None) -> Event:
    return Event(1, "chat", outcome, layer, False, 200, 1.0, None, None, None, None, "m", "default", 1, 1, 0, 0.0,
                 "here:1")


def test_the_summary_rows_add_up_to_every_request() -> None:
    events = [event("hit", "exact")] * 3 + [event("hit", "semantic")] * 2 + [event("hit", "flight")] * 4 + [
        event("miss")] * 5 + [event("bypass")] + [event("error")]
    rows = summary_rows(report(events, threshold=0.2))
    assert rows == {"hits (exact)": 3, "hits (semantic)": 2, "hits (in flight)": 4, "misses": 5,
                    "bypass or error": 2, "all": 16}


def test_demo_runs_to_completion_and_prints_a_summary(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--requests", str(REQUESTS), "--no-wait", "--port", "0",
         "--miss-ms", "60"], env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    out = completed.stdout
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"Open the live dashboard now: http://127\.0\.0\.1:\d+/", out)
    assert f"{REQUESTS}/{REQUESTS}" in out  # the progress bar reached the end
    rows = summary_rows(out)
    assert rows.pop("all") == REQUESTS == sum(rows.values())
    assert rows["hits (exact)"] > 0 and rows["hits (semantic)"] > 0 and rows["misses"] > 0
    hits = sum(count for name, count in rows.items() if name.startswith("hits"))
    assert f"hit rate {hits / REQUESTS:.1%} · {hits} upstream calls avoided" in out
    assert re.search(r"tokens saved [\d,]+ · est\. cost saved \$\d+\.\d{4}", out)
    assert "Traceback" not in completed.stderr


def test_the_workload_plan_is_a_realistic_repeatable_mix() -> None:
    workload = load_workload()
    asks = plan(workload, 240)
    assert asks == plan(workload, 240)  # seeded: every run replays the same traffic
    assert {ask.route for ask in asks} == {"support", "docs", "sales"}
    assert len({ask.model for ask in asks}) == 3
    prompts = [ask.prompt for ask in asks]
    singles = {single["prompt"] for single in (*workload["lookalikes"], *workload["one_offs"])}
    assert all(prompts.count(single) <= 1 for single in singles) and singles & set(prompts)
    paraphrased = [topic for topic in workload["topics"] if len(set(topic["prompts"]) & set(prompts)) > 1]
    assert len(paraphrased) >= 10  # the semantic layer has work to do
    assert 0.1 < sum(ask.stream for ask in asks) / len(asks) < 0.4
