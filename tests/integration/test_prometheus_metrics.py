"""`/metrics` of a served gateway on both stores, read with prometheus-client's parser: the request latency
histogram counts what was served, by API, outcome and layer; and every metric the Grafana dashboard in the repo
queries is one that `/metrics` exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import ask, stream
from tests.support.events import events_of, served

ROOT = Path(__file__).resolve().parents[2]
FAMILY = "latency_slayer_request_duration_seconds"
METRIC = re.compile(r"\blatency_slayer_[a-z0-9_]+")


def scrape(gateway) -> str:
    events_of(gateway)  # every event written, so the window has read them all
    response = httpx.get(f"{gateway.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_the_latency_histogram_counts_what_was_served(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    ask(gateway)
    ask(gateway)
    stream(gateway, "another question")
    families = {family.name: family for family in text_string_to_metric_families(scrape(gateway))}
    histogram = families[FAMILY]
    assert histogram.type == "histogram"
    counts = {(labels["api"], labels["outcome"], labels["layer"]): value for name, labels, value, *_ in
              histogram.samples if name == f"{FAMILY}_count" and labels["window"] == "1m"}
    assert counts == {("chat", "miss", "none"): 2, ("chat", "hit", "exact"): 1}
    for window in ("1m", "15m", "1h"):
        buckets = [value for name, labels, value, *_ in histogram.samples
                   if name == f"{FAMILY}_bucket" and labels["window"] == window and labels["outcome"] == "miss"]
        assert buckets == sorted(buckets) and buckets[-1] == 2


def test_the_grafana_dashboard_queries_only_metrics_that_exist(make_gateway, fake_upstream) -> None:
    gateway = served(make_gateway, "memory")
    ask(gateway)
    ask(gateway)
    exposed = {sample.name for family in text_string_to_metric_families(scrape(gateway))
               for sample in family.samples}
    dashboard = json.loads((ROOT / "dashboard" / "grafana.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for query in queries for name in METRIC.findall(query)}
    assert len(queries) >= 10 and FAMILY + "_bucket" in used
    assert used - exposed == set()
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {name for query in queries for name in re.findall(r"\$(\w+)", query)} <= variables
    assert all(panel["description"] for panel in dashboard["panels"])  # documented where it is read
