"""The dashboard in real headless Chromium shows a budgeted route's threshold in force, its measured wrong-hit rate
with the interval, and the evidence behind it, under the route's hit rate."""

from __future__ import annotations

from tests.integration.test_dashboard_browser import FRESH_MS, browser  # noqa: F401 (a fixture)
from tests.integration.test_error_budget import BUDGET, FAQ, answers, near_misses
from tests.support.clients import ask


def test_the_dashboard_shows_a_budgeted_routes_rate_interval_threshold_and_evidence(
        browser, make_gateway, fake_upstream) -> None:  # noqa: F811
    gateway = make_gateway("memory", ROUTE_ERROR_BUDGET=f"faq={BUDGET}")
    answers(fake_upstream)
    ask(gateway, headers=FAQ)
    page = browser.new_page()
    page.goto(f"{gateway.url}/")
    near_misses(gateway, fake_upstream, 1)
    row = page.locator("#by-route tbody tr", has_text="faq")
    row.get_by_text("exact only").wait_for(timeout=FRESH_MS * 3)
    assert "wrong hits: no evidence yet (budget 10.00%)" in str(row.text_content())
    near_misses(gateway, fake_upstream, 28)
    # 0 wrong of 29: at most 9.81 % with 95 % confidence, under the 10 % budget.
    row.get_by_text("wrong 0.00% [0.00%–9.81%] of 29 (budget 10.00%)").wait_for(timeout=FRESH_MS * 3)
    assert "threshold 0.010" in str(row.text_content())
