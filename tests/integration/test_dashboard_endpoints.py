"""The dashboard over HTTP: the page and its assets served by the gateway (from a wheel: tests/test_packaging.py),
the JSON it polls, and `/metrics` in Prometheus' format, on both stores."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.metrics.window import MIN_REFRESH_SECS
from tests.support.clients import PARAPHRASE, ask, stream
from tests.support.events import served, settle

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ("index.html", "dashboard.css", "dashboard.js", "charts.js", "format.js")


def test_the_page_and_its_assets_are_served_by_the_gateway(make_gateway) -> None:
    gateway = make_gateway("memory")
    for path in ("/", "/dashboard"):
        page = httpx.get(gateway.url + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'src="dashboard/dashboard.js"' in page.text and 'href="dashboard/dashboard.css"' in page.text
    for script in ("dashboard.js", "charts.js", "format.js"):  # modules, importing each other relatively
        response = httpx.get(f"{gateway.url}/dashboard/{script}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{gateway.url}/dashboard/dashboard.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{gateway.url}/dashboard/secrets.txt").status_code == 404
    assert httpx.get(f"{gateway.url}/dashboard/..%2Fsettings.py").status_code == 404
    for asset in ASSETS:  # works offline: nothing is fetched from anywhere but the gateway
        text = (ROOT / "dashboard" / asset).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def test_dashboard_data_follows_the_traffic(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    empty = httpx.get(f"{gateway.url}/dashboard/data?window=60").json()
    assert empty["summary"]["requests"] == 0 and empty["sparkline"] == [] and empty["summary"]["hit_rate"] is None
    assert empty["windows"] == [60, 900, 3600] and empty["sink"]["backend"] == ("redis" if store_kind == "redis"
                                                                                  else "memory")
    ask(gateway)
    ask(gateway)
    ask(gateway, PARAPHRASE)
    stream(gateway, "another question")
    settle(gateway)
    time.sleep(MIN_REFRESH_SECS)  # dashboards polling within this share one read of the sink
    data = httpx.get(f"{gateway.url}/dashboard/data", params={"window": 900}).json()
    summary = data["summary"]
    assert summary["requests"] == 4 and summary["hit_rate"] == 0.5
    assert summary["layers"] == {"exact": 1, "semantic": 1, "flight": 0, "stale": 0}
    assert [point["outcome"] for point in data["sparkline"]] == ["miss", "hit", "hit", "miss"]
    assert data["distances"]["hits"] == 1
    assert data["distances"]["threshold"] == gateway.settings.cache_distance_threshold
    assert data["by_model"][0]["name"] == "gpt-4o-mini" and data["by_route"][0]["requests"] == 4
    assert data["worker"]["written"] == 4 and data["sources"] == 1 and data["stale"] is None
    assert httpx.get(f"{gateway.url}/dashboard/data?window=5").status_code == 400
    assert httpx.get(f"{gateway.url}/dashboard/data?window=x").json()["error"]["param"] == "window"
    for odd in ("\u00b2", "\u2460", "\u0666\u0660", "6" * 5000, "0" * 4000 + "60", "-60", " 60"):
        response = httpx.get(f"{gateway.url}/dashboard/data", params={"window": odd})
        assert response.status_code == 400 and response.json()["error"]["param"] == "window", odd


def test_prometheus_metrics(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    ask(gateway)
    ask(gateway)
    settle(gateway)
    response = httpx.get(f"{gateway.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    for window in ("1m", "15m", "1h"):
        assert f'latency_slayer_hit_ratio{{window="{window}"}} 0.5' in lines
    assert 'latency_slayer_route_requests{window="1m",route="default"} 2' in lines
    assert 'latency_slayer_events_total{state="written"} 2' in lines


def test_what_this_worker_learnt_per_route_is_shown(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ADAPTIVE_THRESHOLDS="true", ADAPTIVE_START_THRESHOLD="0.1",
                           CACHE_DISTANCE_THRESHOLD="0.1")
    ask(gateway)
    _, headers, _ = ask(gateway, PARAPHRASE)
    rating = {"id": headers["x-cache-key"], "rating": "good", "distance": float(headers["x-cache-distance"])}
    feedback = httpx.post(f"{gateway.base_url}/cache/feedback", json=rating,
                          headers={"authorization": "Bearer sk-client-one"})
    assert feedback.status_code == 204
    learnt = httpx.get(f"{gateway.url}/dashboard/data?window=60").json()["learning"]["default"]
    assert (learnt["good"], learnt["bad"], learnt["precision"], learnt["scopes"]) == (1, 0, 1.0, 1)
    assert learnt["threshold"] > 0
    lines = httpx.get(f"{gateway.url}/metrics").text.splitlines()
    assert 'latency_slayer_route_judged_hits_total{route="default",verdict="good"} 1' in lines
    assert 'latency_slayer_route_precision{route="default"} 1.0' in lines
    assert any(line.startswith('latency_slayer_route_threshold{route="default"} 0.1') for line in lines)
