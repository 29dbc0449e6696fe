"""The dashboard's figures in Prometheus' text format (version 0.0.4): one labelled series per window, so
a scrape sees the same numbers as the dashboard, plus what only this worker knows: its event counters and
the verdicts and thresholds it learnt, summed per route (at most 16 routes and "(other)"), with each wrong-hit
budget's measured rate and interval."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.metrics.buckets import EDGES_S

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "latency_slayer_"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = PREFIX + name
        self.lines = [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {kind}"]

    def add(self, value: float | None, suffix: str = "", **labels: str) -> None:
        if value is not None:  # an empty window has no percentile: no sample rather than a fake zero
            self.lines.append(f"{self.name}{suffix}{_labels(labels)} {_number(value)}")


def render(snapshots: Mapping[str, dict[str, Any]], counters: Mapping[str, int],
           learning: Mapping[str, dict[str, Any]] | None = None) -> str:
    """`snapshots`: the aggregate snapshot of each window, by label ("1m", "15m", "1h"); `learning`: per route,
    the judged hits, measured precision, median threshold and any wrong-hit budget (`Learning.snapshot()`, already
    bounded)."""
    families = {name: _Family(name, kind, text) for name, kind, text in (
        ("requests", "gauge", "Requests in the window, by outcome."),
        ("hit_ratio", "gauge", "Hits over all requests in the window."),
        ("hits", "gauge", "Hits in the window, by cache layer."),
        ("latency_ms", "gauge", "Gateway latency percentiles in the window (hit, miss, all)."),
        ("tokens_saved", "gauge", "Prompt and completion tokens that hits did not buy upstream."),
        ("cost_saved_usd", "gauge", "Estimated US dollars that hits did not spend upstream."),
        ("model_requests", "gauge", "Requests in the window per model."),
        ("model_hit_ratio", "gauge", "Hit ratio in the window per model."),
        ("model_cost_saved_usd", "gauge", "Estimated US dollars saved in the window per model."),
        ("route_requests", "gauge", "Requests in the window per route."),
        ("route_hit_ratio", "gauge", "Hit ratio in the window per route."),
        ("route_cost_saved_usd", "gauge", "Estimated US dollars saved in the window per route."),
        ("semantic_hit_distance", "histogram", "Cosine distance of semantic hits in the window."),
        ("request_duration_seconds", "histogram", "Gateway latency of the requests in the window, by API, outcome "
                                                  "and cache layer (histogram_quantile needs no rate() here)."),
        ("reporting_workers", "gauge", "Workers whose events are in the window."),
        ("background_calls", "gauge", "Upstream calls the gateway made on its own in the window, by kind: refresh "
                                      "(stale-while-revalidate, refresh-ahead) and prefetch."),
        ("background_tokens", "gauge", "Prompt and completion tokens those calls spent upstream, by kind."),
        ("background_written", "gauge", "Answers written in the window without a client asking them, by kind: "
                                         "refresh and prefetch calls that brought one back, warming runs' misses."),
        ("background_hits", "gauge", "Hits in the window served from answers written so, by the kind that wrote "
                                     "them (a refreshed answer's: refresh): their yield."),
    )}
    for window, snap in snapshots.items():
        _window(families, window, snap)
    events = _Family("events_total", "counter", "This worker's metrics events, by fate.")
    for state, count in counters.items():
        events.add(count, state=state)
    return "\n".join(line for family in (*families.values(), events, *_learning(learning or {}))
                     for line in family.lines) + "\n"


def _learning(routes: Mapping[str, dict[str, Any]]) -> tuple[_Family, ...]:
    judged = _Family("route_judged_hits_total", "counter", "Semantic hits judged by feedback or shadow checks "
                                                          "in all workers (as last read here), per route and verdict.")
    precision = _Family("route_precision", "gauge", "Share of the judged hits that were right, per route.")
    threshold = _Family("route_threshold", "gauge", "The median distance threshold of the route's tenants (one, on "
                                                    "a shared route) this worker uses, per route; -1: exact matches "
                                                    "only (a wrong-hit budget without the evidence to serve more).")
    budget = _Family("route_error_budget", "gauge", "The share of the route's served semantic hits that may be wrong.")
    wrong = _Family("route_wrong_hit_rate", "gauge", "Under a wrong-hit budget: the share of the verdicts at or under "
                                                     "the threshold in force that were wrong (bound=estimate), and "
                                                     "its one-sided 95 % exact bounds (bound=lower, bound=upper).")
    evidence = _Family("route_budget_evidence", "gauge", "Under a wrong-hit budget: the verdicts at or under the "
                                                         "threshold in force, which the wrong-hit rate is measured on.")
    for route, state in routes.items():
        judged.add(state["good"], route=route, verdict="good")
        judged.add(state["bad"], route=route, verdict="bad")
        precision.add(state["precision"], route=route)
        threshold.add(state["threshold"], route=route)
        if "evidence" in state:
            budget.add(state["budget"], route=route)
            evidence.add(state["evidence"], route=route)
            for bound, name in (("estimate", "wrong_rate"), ("lower", "wrong_low"), ("upper", "wrong_high")):
                wrong.add(state[name], route=route, bound=bound)
    return judged, precision, threshold, budget, wrong, evidence


def _window(families: Mapping[str, _Family], window: str, snap: dict[str, Any]) -> None:
    summary = snap["summary"]
    for outcome, count in summary["outcomes"].items():
        families["requests"].add(count, window=window, outcome=outcome)
    families["hit_ratio"].add(summary["hit_rate"], window=window)
    for layer, count in summary["layers"].items():
        families["hits"].add(count, window=window, layer=layer)
    for outcome, figures in summary["latency"].items():
        for quantile, name in (("p50", "0.5"), ("p95", "0.95")):
            families["latency_ms"].add(figures[quantile], window=window, outcome=outcome, quantile=name)
    families["tokens_saved"].add(summary["tokens_saved"], window=window)
    families["cost_saved_usd"].add(summary["cost_saved"], window=window)
    for kind in ("model", "route"):
        for row in snap[f"by_{kind}"]:
            labels = {"window": window, kind: row["name"]}
            families[f"{kind}_requests"].add(row["requests"], **labels)
            families[f"{kind}_hit_ratio"].add(row["hit_rate"], **labels)
            families[f"{kind}_cost_saved_usd"].add(row["cost_saved"], **labels)
    _histogram(families["semantic_hit_distance"], window, snap["distances"])
    _durations(families["request_duration_seconds"], window, snap["durations"])
    families["reporting_workers"].add(snap["sources"], window=window)
    for kind, spent in summary["background"].items():
        families["background_calls"].add(spent["calls"], window=window, kind=kind)
        families["background_tokens"].add(spent["tokens"], window=window, kind=kind)
    for kind, figures in summary["yield"].items():
        families["background_written"].add(figures["written"], window=window, kind=kind)
        families["background_hits"].add(figures["hits"], window=window, kind=kind)


def _histogram(family: _Family, window: str, histogram: dict[str, Any]) -> None:
    cumulative = 0
    for edge, count in zip(histogram["edges"][1:], histogram["counts"], strict=True):
        cumulative += count
        family.add(cumulative, "_bucket", window=window, le=f"{edge:.4g}")
    family.add(histogram["hits"], "_bucket", window=window, le="+Inf")
    family.add(histogram["sum"], "_sum", window=window)
    family.add(histogram["hits"], "_count", window=window)


def _durations(family: _Family, window: str, rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        labels = {"window": window, "api": row["api"], "outcome": row["outcome"], "layer": row["layer"]}
        for edge, cumulative in zip(EDGES_S, row["buckets"], strict=True):
            family.add(cumulative, "_bucket", **labels, le=f"{edge:g}")
        family.add(row["count"], "_bucket", **labels, le="+Inf")
        family.add(row["sum"], "_sum", **labels)
        family.add(row["count"], "_count", **labels)


def window_labels(seconds: Iterable[int]) -> dict[str, int]:
    """{"1m": 60, "15m": 900, "1h": 3600} for the given window lengths."""
    return {(f"{s // 3600}h" if s % 3600 == 0 else f"{s // 60}m" if s % 60 == 0 else f"{s}s"): s for s in seconds}
