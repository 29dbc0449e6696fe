"""Percentiles, a progress bar, and the JSON + markdown the benchmark writes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    values = np.asarray(seconds) * 1000
    return {"n": len(seconds), "p50": round(float(np.percentile(values, 50)), 3),
            "p95": round(float(np.percentile(values, 95)), 3), "p99": round(float(np.percentile(values, 99)), 3)}


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def step(self, label: str) -> None:
        self.done += 1
        filled = int(30 * self.done / self.total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label:<48}")
        sys.stderr.flush()
        if self.done == self.total:
            sys.stderr.write("\n")


def _cell(results: dict[str, Any], *path: str) -> str:
    value: Any = results
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return "-"
        value = value[part]
    return f"{value:,.1f}" if isinstance(value, float) and value >= 100 else f"{value:.2f}" \
        if isinstance(value, float) else str(value)


ROWS = (
    ("exact-hit p50 at concurrency 1 (ms)", ("c1", "exact_hit", "p50")),
    ("exact-hit p95 at concurrency 1 (ms)", ("c1", "exact_hit", "p95")),
    ("semantic-hit p50 at concurrency 1 (ms)", ("c1", "semantic_hit", "p50")),
    ("semantic hits / paraphrases sent", ("c1", "semantic_hit_share")),
    ("miss overhead p50 (ms over direct)", ("c1", "miss_overhead_p50")),
    ("streamed-miss TTFB overhead p50 (ms)", ("c1", "ttfb_overhead_p50")),
    ("exact hits/s at concurrency 16", ("load", "exact_c16", "rps")),
    ("exact hits/s at concurrency 64", ("load", "exact_c64", "rps")),
    ("exact-hit p95 at concurrency 64 (ms)", ("load", "exact_c64", "p95_ms")),
    ("semantic hits/s at concurrency 16", ("load", "semantic_c16", "rps")),
    ("semantic hits/s at concurrency 64", ("load", "semantic_c64", "rps")),
    ("CPU per exact hit (ms)", ("load", "cpu_ms_per_exact_hit")),
    ("Redis memory per entry (bytes)", ("redis_bytes_per_entry",)),
    ("start-up to first served request (s)", ("startup_secs",)),
)


def markdown(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_cell(results[name], *path) for name in names) + " |"
              for label, path in ROWS]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "results.json"
    as_json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    as_markdown = directory / "results.md"
    as_markdown.write_text(markdown(results["targets"]))
    return as_json, as_markdown
