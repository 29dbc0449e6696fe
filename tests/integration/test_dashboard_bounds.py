"""Model names are free text from clients: what the metrics keep of them is bounded in length (at emission, and
again when read from the stream) and in number (per window; the rest count as "(other)"), through the served
gateway (at the recorder itself: unit/test_metrics_bounds.py)."""

from __future__ import annotations

import re
import time

import httpx

from gateway.metrics.labels import MAX_LABEL_CHARS, MAX_NAMES, OTHER
from gateway.metrics.window import MIN_REFRESH_SECS
from tests.support.clients import ask
from tests.support.events import events_of, served, settle

NAMES = 40


def made_up(number: int) -> str:
    """200 characters (the request parser accepts up to 256), a bell, a newline and a terminal escape in them."""
    return f"{number:02d}\a-model\n\x1b[31m" + "m" * 185


def bounded_label(name: str) -> bool:
    return len(name) <= MAX_LABEL_CHARS and name.isprintable()


def test_made_up_model_names_are_bounded_in_events_the_dashboard_and_metrics(make_gateway, fake_upstream,
                                                                             store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    for number in range(NAMES):
        assert ask(gateway, f"question {number}", model=made_up(number))[0] == "miss"
    events = events_of(gateway)
    assert len(events) == NAMES and all(bounded_label(e.model) for e in events)
    assert events[7].model == ("07-model[31m" + "m" * 185)[:MAX_LABEL_CHARS - 3]  # bell, newline, escape: gone
    settle(gateway)
    time.sleep(MIN_REFRESH_SECS)
    data = httpx.get(f"{gateway.url}/dashboard/data?window=60").json()
    assert data["summary"]["requests"] == NAMES
    assert all(bounded_label(row["name"]) for row in data["by_model"]) and data["by_model"][-1]["name"] == OTHER
    metrics = httpx.get(f"{gateway.url}/metrics").text
    labels = re.findall(r'model="((?:[^"\\]|\\.)*)"', metrics)
    assert labels and all(len(label) <= MAX_LABEL_CHARS for label in labels)
    for window in gateway.gateway.fleet._windows.values():  # what the dashboard keeps: 16 names and the rest
        assert len(window.total.rows["model"]) == MAX_NAMES + 1
        assert window.total.rows["model"][OTHER].requests == NAMES - MAX_NAMES
