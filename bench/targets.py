"""The issue's targets, each read off one run's results: the first service is ours, the second (if any) the
peer it is compared with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_UNDER_LOAD = ("16", "64")  # "concurrency 16-64"


def _c1(key: str, *path: str) -> Callable[[dict[str, Any]], float | None]:
    def read(service: dict[str, Any]) -> float | None:
        value: Any = service.get("c1", {}).get(key, {})
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return read


def _slowest_hits(workload: str) -> Callable[[dict[str, Any]], float | None]:
    def read(service: dict[str, Any]) -> float | None:
        runs = service.get("load", {}).get(workload, {})
        rates = [runs[c]["hits_per_s"] for c in _UNDER_LOAD if c in runs]
        return min(rates) if rates else None
    return read


def _worst_spread(service: dict[str, Any]) -> float | None:
    """The largest p95/p50 of any hit workload at concurrency 16-64."""
    spreads = [run["p95_ms"] / run["p50_ms"]
               for workload in ("exact", "exact_stream", "paraphrase_fresh", "paraphrase_repeated")
               for c, run in service.get("load", {}).get(workload, {}).items() if c in _UNDER_LOAD and run["p50_ms"]]
    return max(spreads) if spreads else None


def _startup(service: dict[str, Any]) -> float | None:
    return service.get("startup_secs")


# (label, how to read it off one service, the bound, True when the figure must stay at or below the bound)
TARGETS: tuple[tuple[str, Callable[[dict[str, Any]], float | None], float, bool], ...] = (
    ("exact-hit p50 at concurrency 1 <= 1 ms", _c1("exact_hit", "p50"), 1.0, True),
    ("semantic-hit p50 at concurrency 1, fresh paraphrase, <= 3 ms", _c1("semantic_hit_fresh", "p50"), 3.0, True),
    ("miss overhead p50 <= 2 ms", _c1("miss", "overhead", "p50"), 2.0, True),
    ("streamed-miss TTFB overhead p50 <= 2 ms", _c1("stream_miss_ttfb", "overhead", "p50"), 2.0, True),
    ("exact hits/s at concurrency 16-64 (the lower) >= 1,500", _slowest_hits("exact"), 1500.0, False),
    ("semantic hits/s at concurrency 16-64, fresh paraphrases, >= 500", _slowest_hits("paraphrase_fresh"), 500.0,
     False),
    ("p95 <= 5x p50 under load (worst hit workload at concurrency 16-64)", _worst_spread, 5.0, True),
    ("start-up to first served request <= 2 s", _startup, 2.0, True),
)
_RATIOS = (("exact hits/s >= 5x LiteLLM's at concurrency 16-64 (the lower ratio)", "exact"),
           ("semantic hits/s >= 5x LiteLLM's at concurrency 16-64, fresh paraphrases", "paraphrase_fresh"))


def _verdict(value: float | None, bound: float, at_most: bool) -> str:
    if value is None:
        return "not measured"
    return "yes" if (value <= bound if at_most else value >= bound) else "**no**"


def evaluate(results: dict[str, Any], names: list[str]) -> list[tuple[str, list[float | None], str]]:
    services = [results["services"][name] for name in names]
    rows = []
    for label, read, bound, at_most in TARGETS:
        values = [read(service) for service in services]
        rows.append((label, values, _verdict(values[0], bound, at_most)))
    if len(services) > 1:
        ours, peer = services[0].get("load", {}), services[1].get("load", {})
        for label, workload in _RATIOS:
            ratios = [ours[workload][c]["hits_per_s"] / peer[workload][c]["hits_per_s"] for c in _UNDER_LOAD
                      if c in ours.get(workload, {}) and c in peer.get(workload, {})
                      and peer[workload][c]["hits_per_s"]]
            ratio = min(ratios) if ratios else None
            rows.append((label, [ratio, None], _verdict(ratio, 5.0, False)))
    return rows
