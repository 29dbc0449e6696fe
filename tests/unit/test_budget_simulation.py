"""`latency-slayer eval --budget`: a stream of labelled pairs through a budgeted route, on tables, and the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.budget_simulation import Run, budget_report, simulate, why
from gateway.cache.budget import EXACT_ONLY, Choice
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
    assert "    no threshold holds the 299 verdicts it needs to be tested" in out  # why it served nothing
    for bad in ("0", "1", "x", "0.01,2"):
        with pytest.raises(SystemExit):
            main(["eval", str(pairs_file), "--budget", bad])


def ended(final: float, *ladder: tuple[float, int, int]) -> Run:
    """A run that ended at `final` with these (threshold, right, wrong) verdicts at or under each threshold."""
    return Run([], [], 0, 0, Choice(final), [Choice(threshold, good, bad) for threshold, good, bad in ladder])


@pytest.mark.parametrize(("run", "said"), [
    (ended(EXACT_ONLY), "no threshold holds the 59 verdicts it needs to be tested"),
    (ended(EXACT_ONLY, (0.01, 58, 0)), "no threshold holds the 59 verdicts"),  # 0 of 58: at most 5.03 %
    # 3 wrong of 100 everywhere: no order of testing would serve any of them.
    (ended(EXACT_ONLY, (0.005, 40, 1), (0.01, 97, 3)),
     "tested first 0.010: 3 wrong of 100 (3.00%, at most 7.57%); lowest bound 0.010: 3 wrong of 100 (3.00%, at "
     "most 7.57%): over the budget at every threshold"),
    # 2 wrong of 60 fail first; 2 of 2060 would pass, but the sequence stopped before them.
    (ended(EXACT_ONLY, (0.005, 58, 2), (0.05, 2058, 2)),
     "tested first 0.005: 2 wrong of 60 (3.33%, at most 10.12%); lowest bound 0.050: 2 wrong of 2060 (0.10%, "
     "at most 0.31%): under the budget, but a stricter threshold failed first"),
    (ended(0.05, (0.005, 60, 0), (0.05, 2058, 2)), "lowest bound 0.050: 2 wrong of 2060 (0.10%, at most 0.31%): "
                                                   "served: the threshold in force is at it or looser"),
])
def test_the_report_says_whether_the_budget_is_out_of_the_verdicts_reach(run: Run, said: str) -> None:
    assert said in why(run, 0.05)


def test_the_report_of_a_stream_says_why_it_ended_where_it_did() -> None:
    stream = [outcome(True, 0.01)] * 500 + [outcome(False, 0.01)] * 50  # 9 % wrong at the same distance
    said = budget_report(stream, 0.01, 0.2, shadow_rate=0.1)[-1]
    assert "tested first 0.010" in said and said.endswith("over the budget at every threshold")
