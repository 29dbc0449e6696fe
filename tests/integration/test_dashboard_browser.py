"""The dashboard in real headless Chromium (Debian's, driven by Playwright): it changes without a reload,
within 2 s, as traffic goes through the gateway. Screenshots are left in test-artifacts/ to look at."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo.workload import load_workload, plan

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic (updates, sync) has nowhere to go on a closed network.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FRESH_MS = 2000  # the dashboard may be at most this far behind


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/setup --test installs it")
        pytest.skip("chromium is not installed (scripts/setup --test installs it as root)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def send(gateway, prompt: str, *, model: str = "gpt-4o-mini", route: str = "default", stream: bool = False,
         warming: bool = False) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    headers = {"x-route": route, **({"x-cache-origin": "warming"} if warming else {})}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    gateway.drain()
    return response.headers["x-cache"]


def shown(page, metric: str) -> str:
    return str(page.locator(f'[data-metric="{metric}"]').text_content())


def bars(page) -> int:
    return int(page.locator("#sparkline rect[data-outcome]").count())


def until(page, metric: str, expected: str) -> float:
    """Seconds until the page shows `expected`, at most FRESH_MS."""
    started = time.monotonic()
    page.wait_for_function("([metric, expected]) => document.querySelector(`[data-metric=\"${metric}\"]`)"
                           ".textContent === expected", arg=[metric, expected], timeout=FRESH_MS)
    return time.monotonic() - started


def test_the_dashboard_updates_live_without_a_reload(browser, make_gateway) -> None:
    gateway = make_gateway("memory", MISS_DELAY_MS="250")  # misses slow enough to tell apart on the sparkline
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page.goto(f"{gateway.url}/")
    until(page, "requests", "0")
    assert shown(page, "hit-rate") == "–" and bars(page) == 0
    page.evaluate("window.__loaded_once = true")  # a reload would forget it

    assert send(gateway, "How do I reset my password?") == "miss"
    assert send(gateway, "How do I reset my password?") == "hit"
    assert send(gateway, "How can I reset my password?") == "hit"
    until(page, "requests", "3")
    assert shown(page, "hit-rate") == "66.7%" and bars(page) == 3
    outcomes = page.locator("#sparkline rect[data-outcome]").evaluate_all("rects => rects.map(r => r.dataset.outcome)")
    assert outcomes == ["miss", "hit", "hit"]

    for ask in plan(load_workload(), 45):  # a realistic mix, for a screenshot worth looking at
        send(gateway, ask.prompt, model=ask.model, route=ask.route, stream=ask.stream)
    until(page, "requests", "48")
    assert bars(page) == 20 and shown(page, "hit-rate") not in ("–", "66.7%")
    assert page.evaluate("window.__loaded_once") is True
    assert page.locator("#by-route tbody tr").count() == 4  # support, docs, sales and the first three's default

    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the bars' width transition finish
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, color_scheme="light")
    phone.goto(f"{gateway.url}/dashboard")
    until(phone, "requests", "48")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    phone.wait_for_timeout(300)
    phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)


def test_the_window_buttons_switch_the_figures(browser, make_gateway) -> None:
    gateway = make_gateway("memory")
    send(gateway, "What is a semantic cache?", warming=True)
    page = browser.new_page()
    page.goto(f"{gateway.url}/")
    until(page, "requests", "1")
    assert shown(page, "outcomes").endswith(" · 1 warmed (yield 0 hits)")
    assert send(gateway, "What is a semantic cache?") == "hit"  # a client's, served what warming wrote
    until(page, "requests", "2")
    assert shown(page, "outcomes").endswith(" · 1 warmed (yield 1 hit)")
    page.click('button[data-window="60"]')
    page.wait_for_function("document.getElementById('window-label').textContent === 'last 1 min'", timeout=FRESH_MS)
    assert page.locator('button[data-window="900"]').get_attribute("aria-pressed") == "false"
    page.reload()  # the choice is remembered
    assert page.locator('button[data-window="60"]').get_attribute("aria-pressed") == "true"


def test_with_a_metrics_token_the_browser_asks_for_it_once_and_the_page_updates(browser, make_gateway) -> None:
    gateway = make_gateway("memory", METRICS_TOKEN="a-browser-secret")
    context = browser.new_context(http_credentials={"username": "me", "password": "a-browser-secret"})
    page = context.new_page()  # answers the Basic challenge as a user typing the token would
    assert page.goto(f"{gateway.url}/dashboard").status == 200
    until(page, "requests", "0")  # its scripts and its polling of the data got through too
    send(gateway, "What is a semantic cache?")
    until(page, "requests", "1")
    context.close()
