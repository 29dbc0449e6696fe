"""`latency-slayer eval --budget`: a stream of labelled pairs through a budgeted route, on tables, and the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.budget_simulation import simulate
from gateway.cli import main
from gateway.evaluation import rates
from tests.unit.test_eval import outcome, pairs_file  # noqa: F401 (a fixture)


def test_a_budgeted_route_learns_to_serve_the_right_hits_and_never_the_wrong_ones() -> None:
    # Right near repeats at 0.01, different questions at 0.1 (each a near miss judged wrong), a vetoed look-alike.
    stream = [outcome(True, 0.01)] * 600 + [outcome(False, 0.1)] * 300 + [outcome(False, 0.005, "number")] * 100
    run = simulate(stream, 0.01, 0.2, shadow_rate=0.1)
    served = rates(run.served, run.duplicate)
    assert served.false_hits == 0 and run.final.threshold == 0.01
    # Exact only until ~300 right verdicts say under 1 %, then served, a tenth of them shadow-checked instead.
    assert 0.2 < served.recall < 0.6 and run.shadowed > 0
    assert run.verdicts == 600 - served.hits + 300  # the vetoed look-alikes are neither served nor judged


def test_wrong_verdicts_near_the_right_ones_keep_the_route_exact_only() -> None:
    stream = [outcome(True, 0.01)] * 500 + [outcome(False, 0.01)] * 50  # 9 % wrong at the same distance
    run = simulate(stream, 0.01, 0.2, shadow_rate=0.1)
    served = rates(run.served, run.duplicate)
    assert run.final.threshold < 0 and served.false_hits <= 2  # at most the few served before the evidence turned


def test_eval_reports_the_budgeted_route(pairs_file: Path, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    assert main(["eval", str(pairs_file), "--budget", "0.01,0.5", "--shadow-rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "budget 1.00% (stream of 4, shadow rate 50%, seed 0): threshold at the end exact only" in out
    assert "served under the budget:     no semantic hits served" in out and "recall cost 50.0 points" in out
    assert "budget 50.00% (stream of 4" in out  # one stream per budget
    for bad in ("0", "1", "x", "0.01,2"):
        with pytest.raises(SystemExit):
            main(["eval", str(pairs_file), "--budget", bad])
