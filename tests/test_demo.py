"""`latency-slayer demo` run to completion as a newcomer would, with a small request count: the gateway in
front of its simulated upstream, the replay, and the summary it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gateway.demo_workload import load_workload, plan
from tests.test_packaging import _clean_env

REQUESTS = 40


def test_demo_runs_to_completion_and_prints_a_summary(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--requests", str(REQUESTS), "--no-wait", "--port", "0",
         "--miss-ms", "60"], env=_clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    out = completed.stdout
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"Open the live dashboard now: http://127\.0\.0\.1:\d+/", out)
    assert f"{REQUESTS}/{REQUESTS}" in out  # the progress bar reached the end
    rows = {match[0]: int(match[1]) for match in re.findall(r"^  (hits \(exact\)|hits \(semantic\)|misses|all)"
                                                            r"\s+(\d+)\s+\d+%", out, re.MULTILINE)}
    assert rows["all"] == REQUESTS
    assert rows["hits (exact)"] > 0 and rows["hits (semantic)"] > 0 and rows["misses"] > 0
    hits = rows["hits (exact)"] + rows["hits (semantic)"]
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
