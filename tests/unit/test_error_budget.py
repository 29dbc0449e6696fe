"""The wrong-hit budget on tables: its exact confidence bounds, the threshold it chooses from verdicts per step of
distance (each counting for every threshold that would have served it), the setting's forms, what a scope keeps
in the store, and a scope's threshold moving with the verdicts recorded in it."""

from __future__ import annotations

import pytest

from gateway.cache import binomial
from gateway.cache.budget import EXACT_ONLY, Choice, add, choose, enough, ladder, rate, step_of
from gateway.cache.learning import Learning
from gateway.cache.scopes import Scope, ScopeState, ScopeTable
from gateway.errors import SettingsError
from gateway.setting_values import ErrorBudgets, error_budgets
from gateway.settings import load_settings
from gateway.store.memory import MemoryStore
from gateway.wire.completion import CHAT_ANSWERS
from tests.support.processes import NO_DOTENV
from tests.unit.test_learning import completion


@pytest.mark.parametrize(("bad", "n", "confidence", "upper", "lower"), [
    (0, 0, 0.95, 1.0, 0.0),  # nothing measured: nothing known
    (0, 10, 0.95, 0.258866, 0.0),  # 1 - 0.05 ** (1 / 10)
    (0, 299, 0.95, 0.009969, 0.0),  # 299 right in a row: just under 1 %
    (1, 10, 0.95, 0.394163, 0.005116),  # published one-sided Clopper-Pearson values
    (3, 100, 0.975, 0.085176, 0.006229),  # the two-sided 95 % interval of 3 of 100
    (10, 10, 0.95, 1.0, 0.741134),  # 0.05 ** (1 / 10)
    (50, 5000, 0.95, 0.012641, 0.007801),
])
def test_exact_bounds_match_the_published_values(bad: int, n: int, confidence: float, upper: float,
                                                  lower: float) -> None:
    assert binomial.upper(bad, n, confidence) == pytest.approx(upper, abs=2e-6)
    assert binomial.lower(bad, n, confidence) == pytest.approx(lower, abs=2e-6)


@pytest.mark.parametrize("n", [1, 7, 30, 100, 298, 299, 300, 1000, 5000])
@pytest.mark.parametrize("bad", [0, 1, 2, 5, 20])
def test_below_a_rate_is_the_upper_bound_under_it_without_a_search(bad: int, n: int) -> None:
    for budget in (0.005, 0.01, 0.02, 0.05, 0.1):
        if bad <= n:
            assert binomial.below(budget, bad, n, 0.95) == (binomial.upper(bad, n, 0.95) <= budget)


def verdicts(*rows: tuple[float, int, int]) -> dict[int, list[int]]:
    """(distance, right, wrong) rows."""
    table: dict[int, list[int]] = {}
    for distance, good, bad in rows:
        for _ in range(good):
            add(table, distance, True)
        for _ in range(bad):
            add(table, distance, False)
    return table


# 0 wrong of 59 is under 5 % with 95 % confidence (upper bound 4.95 %); 0 of 58 is not (5.03 %).
@pytest.mark.parametrize(("rows", "threshold", "behind"), [
    ((), EXACT_ONLY, (0, 0)),  # a cold scope: exact matches only
    (((0.01, 58, 0),), EXACT_ONLY, (0, 0)),  # not yet enough to promise 5 %
    (((0.01, 59, 0),), 0.01, (59, 0)),  # enough: served up to the verdicts, not to the ceiling
    (((0.0, 30, 0), (0.01, 29, 0)), 0.01, (59, 0)),  # evidence nearer counts for every looser threshold
    (((0.01, 59, 0), (0.03, 0, 1)), 0.01, (59, 0)),  # a wrong hit at 0.03 stops it at 0.01
    (((0.01, 59, 0), (0.004, 0, 1)), EXACT_ONLY, (0, 0)),  # a wrong hit at 0.004 counts against 0.01 too
    (((0.01, 59, 0), (0.05, 200, 1)), 0.05, (259, 1)),  # 1 wrong of 260 is well under 5 %: looser
    (((0.01, 59, 0), (0.25, 500, 0)), 0.01, (59, 0)),  # beyond the ceiling (0.2): never served, never counted
    (((0.012, 59, 0),), 0.015, (59, 0)),  # thresholds are on a 0.005 grid, the first to serve the verdicts
])
def test_the_loosest_threshold_whose_measured_rate_is_under_the_budget(rows, threshold: float, behind) -> None:
    choice = choose(verdicts(*rows), 0.05, 0.2)
    assert choice == Choice(threshold, *behind)


def test_a_threshold_tightens_as_wrong_verdicts_arrive_and_loosens_again_with_right_ones() -> None:
    table = verdicts((0.02, 300, 0), (0.06, 300, 0))
    assert choose(table, 0.01, 0.2).threshold == 0.06  # 0 wrong of 600: at most 0.5 %
    add(table, 0.05, False)
    add(table, 0.05, False)
    assert choose(table, 0.01, 0.2) == Choice(0.02, 300, 0)  # 2 of 302 to 0.05: at most 2.1 %; 0 of 300: 0.99 %
    for _ in range(200):
        add(table, 0.06, True)
    assert choose(table, 0.01, 0.2) == Choice(0.02, 300, 0)  # 0.05 still fails, and 0.06 is tested only after it
    for _ in range(500):
        add(table, 0.04, True)
    assert choose(table, 0.01, 0.2) == Choice(0.06, 1300, 2)  # 2 of 802 to 0.05: at most 0.78 %; then 2 of 1302


def test_steps_are_tested_from_the_strictest_and_a_failure_stops_the_loosening() -> None:
    # 0.03 fails (2 wrong of 62); 0.1, with many more right verdicts, would pass on its own: it is never reached,
    # or any step near the edge would get its own chance of passing by luck.
    table = verdicts((0.01, 60, 0), (0.03, 0, 2), (0.1, 2000, 0))
    assert choose(table, 0.05, 0.2) == Choice(0.01, 60, 0)
    assert binomial.below(0.05, 2, 2062, 0.95)


def test_a_verdict_counts_from_the_first_threshold_that_serves_it() -> None:
    assert [step_of(d) for d in (0.0, 0.001, 0.005, 0.0051, 0.01, 0.03, 0.2)] == [0, 1, 1, 2, 2, 6, 40]


def test_the_rate_shown_is_the_measured_share_with_its_bounds() -> None:
    assert rate(0, 0) == {"wrong_rate": None, "wrong_low": None, "wrong_high": None}
    shown = rate(1, 10)
    assert shown["wrong_rate"] == 0.1 and shown["wrong_low"] == pytest.approx(0.005116, abs=1e-6)
    assert shown["wrong_high"] == pytest.approx(0.394163, abs=1e-6)


@pytest.mark.parametrize(("value", "parsed", "code", "faq", "other"), [
    ("0.01", ErrorBudgets(0.01), 0.01, 0.01, 0.01),
    ("faq=0.005, code=off", ErrorBudgets(None, (("code", None), ("faq", 0.005))), None, 0.005, None),
    ("0.01,code=off", ErrorBudgets(0.01, (("code", None),)), None, 0.01, 0.01),
    ("", ErrorBudgets(), None, None, None),
])
def test_a_budget_for_every_route_for_some_or_both(value: str, parsed: ErrorBudgets, code, faq, other) -> None:
    assert error_budgets(value) == parsed
    assert (parsed.of("code"), parsed.of("faq"), parsed.of("other")) == (code, faq, other)
    assert bool(parsed) == (value != "")


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.01", "nan", "abc", "off", "faq=", "=0.1", "0.01,0.02",
                                   "faq=0.1,faq=0.2", "faq=2"])
def test_a_budget_that_promises_nothing_or_everything_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        error_budgets(value)


def test_a_scope_keeps_its_verdicts_per_step_in_the_store_and_reads_an_older_state_as_cold() -> None:
    state = ScopeState()
    for distance, good in ((0.01, True), (0.01, False), (0.03, True)):
        state.record(distance, good)
    copy = ScopeState()
    assert copy.adopt(state.blob(123)) == 123
    assert (copy.good, copy.bad, copy.verdicts) == (2, 1, {2: [1, 1], 6: [1, 0]})
    older = ScopeState()
    older.adopt(b"[5, 0, 0.1, 7]")  # written before verdicts were kept per step
    assert (older.good, older.threshold, older.verdicts) == (5, 0.1, {})


def test_the_summary_shows_a_budgeted_routes_rate_interval_threshold_and_evidence() -> None:
    table = ScopeTable()
    served, cold = table.use(Scope("faq", "t1")), table.use(Scope("faq", "t2"))
    for _ in range(59):
        served.record(0.01, True)
    cold.record(0.01, False)
    table.use(Scope("free", "t1")).record(0.01, True)

    def budgeted(scope: Scope, state: ScopeState):
        return (0.05, choose(state.verdicts, 0.05, 0.2)) if scope.route == "faq" else None

    summary = table.by_route(None, budgeted)
    # The served scope's 59 verdicts are behind its threshold; the cold one serves exact only, with none.
    assert summary["faq"] == {"good": 59, "bad": 1, "precision": 59 / 60, "scopes": 2, "threshold": EXACT_ONLY,
                              "budget": 0.05, "evidence": 59, **rate(0, 59)}
    assert summary["free"] == {"good": 1, "bad": 0, "precision": 1.0, "scopes": 1, "threshold": None}


RIGHT = CHAT_ANSWERS.reply(completion("Use the reset link."))


async def test_a_budgeted_scope_starts_exact_only_and_moves_with_its_own_verdicts() -> None:
    store = MemoryStore(max_entries=100)
    learning = Learning(store, embedder=None, adaptive=None, shadow_rate=0.0,  # type: ignore[arg-type]
                        budgets=ErrorBudgets(None, (("faq", 0.05),)), ceiling=0.2)
    faq, other, free = Scope("faq", "t1"), Scope("faq", "t2"), Scope("free", "t1")
    assert learning.threshold(faq, 0.2) == EXACT_ONLY and learning.threshold(free, 0.2) == 0.2
    for _ in range(59):
        assert await learning.judge(faq, 0.01, RIGHT, RIGHT)  # the same answer: right, no embedding needed
    assert learning.threshold(faq, 0.2) == 0.01
    assert learning.threshold(other, 0.2) == EXACT_ONLY  # another tenant's scope learnt nothing
    fresh = Learning(store, embedder=None, adaptive=None, shadow_rate=0.0,  # type: ignore[arg-type]
                     budgets=ErrorBudgets(None, (("faq", 0.05),)), ceiling=0.2)
    await fresh.sync(faq)  # another worker on the same store adopts the verdicts
    assert fresh.threshold(faq, 0.2) == 0.01


def test_a_bad_budget_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^ROUTE_ERROR_BUDGET='faq=1' is invalid: expected a share"):
        load_settings(environ={"ROUTE_ERROR_BUDGET": "faq=1"}, dotenv=NO_DOTENV)
    assert load_settings(environ={}, dotenv=NO_DOTENV).route_error_budget == ErrorBudgets()  # off when unset


def test_the_ladder_holds_each_steps_verdicts_with_every_stricter_ones_up_to_the_ceiling() -> None:
    table = verdicts((0.0, 2, 0), (0.012, 5, 1), (0.03, 0, 2), (0.25, 9, 0))
    assert ladder(table, 0.2) == [Choice(0.0, 2, 0), Choice(0.015, 7, 1), Choice(0.03, 7, 3)]
    assert ladder({}, 0.2) == [] and ladder(table, 0.01) == [Choice(0.0, 2, 0)]


@pytest.mark.parametrize(("share", "needed"), [(0.01, 299), (0.05, 59), (0.1, 29)])
def test_a_threshold_is_tested_once_it_holds_as_many_verdicts_as_pass_with_none_wrong(share: float,
                                                                                       needed: int) -> None:
    assert needed - 1 < enough(share) <= needed
    assert binomial.below(share, 0, needed, 0.95) and not binomial.below(share, 0, needed - 1, 0.95)
