"""Percentiles, a progress bar, and the JSON + markdown the benchmark writes."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.targets import evaluate


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    values = np.asarray(seconds) * 1000
    return {"n": len(seconds), **{f"p{q}": round(float(np.percentile(values, q)), 3) for q in (50, 95, 99)}}


def overhead(measured: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    """Each percentile minus the same percentile sent straight to the upstream."""
    return {q: round(measured[q] - floor[q], 3) for q in ("p50", "p95", "p99") if q in measured and q in floor}


class Progress:
    """A bar on stderr: steps done of all planned, time so far, and what is running now."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def _draw(self, label: str) -> None:
        filled = int(30 * self.done / self.total)
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {minutes}:{seconds:02d}"
                         f" {label[:70]:<70}")
        sys.stderr.flush()

    def step(self, label: str) -> None:
        """`label` starts now; the step before it is done."""
        self._draw(label)
        self.done = min(self.done + 1, self.total)

    def finish(self) -> None:
        self.done = self.total
        self._draw("done")
        sys.stderr.write("\n")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool | str):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"


def _pct(figures: dict[str, Any] | None) -> str:
    if not figures or "p50" not in figures:
        return "-"
    return " / ".join(_num(figures[q]) for q in ("p50", "p95", "p99"))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


_C1_ROWS = (
    ("exact hit", "exact_hit", "hits"),
    ("semantic hit, fresh paraphrase (embedded on arrival)", "semantic_hit_fresh", "hits"),
    ("semantic hit, repeated paraphrase (recent-vector cache)", "semantic_hit_repeated", "hits"),
    ("streamed exact hit, time to first byte", "stream_hit_ttfb", "hits"),
    ("miss", "miss", "misses"),
    ("miss overhead over direct", "miss", "overhead"),
    ("streamed miss, time to first byte", "stream_miss_ttfb", "misses"),
    ("streamed-miss TTFB overhead over direct", "stream_miss_ttfb", "overhead"),
)


def _c1(results: dict[str, Any]) -> list[str]:
    names = list(results["services"])
    rows = []
    for label, key, extra in _C1_ROWS:
        row = [label]
        for name in names:
            figures = results["services"][name].get("c1", {}).get(key)
            cell = _pct(figures.get("overhead") if extra == "overhead" and figures else figures)
            if figures and extra != "overhead":
                cell += f" ({figures[extra]})"
            row.append(cell)
        floor = results["floor"]["c1"].get(key) if extra == "misses" else None
        rows.append([*row, _pct(floor)])
    return _table(["concurrency 1, ms p50 / p95 / p99 (served from cache / sent)", *names, "direct (floor)"], rows)


def _load(results: dict[str, Any], workloads: dict[str, str]) -> list[str]:
    names = list(results["services"])
    header = ["workload", "c"]
    for name in names:
        short = name.split(" ")[0]
        header += [f"{short} req/s", f"{short} hits/s", f"{short} ms p50 / p95 / p99", f"{short} p95/p50",
                   f"{short} CPU ms/req"]
    header += ["ours / LiteLLM hits/s" if len(names) > 1 else "", "direct ms p50 / p95 / p99"]
    rows = []
    for workload, label in workloads.items():
        for connections in results["plan"]["concurrency"]:
            row = [label, str(connections)]
            runs = [results["services"][n].get("load", {}).get(workload, {}).get(str(connections)) for n in names]
            for run in runs:
                if run is None:
                    row += ["-"] * 5
                    continue
                flag = " (texts ran out: repeated)" if run.get("repeated_bodies") else ""
                ratio = run["p95_ms"] / run["p50_ms"] if run["p50_ms"] else None
                row += [_num(run["rps"]) + flag, _num(run["hits_per_s"]),
                        _pct({f"p{q}": run[f"p{q}_ms"] for q in (50, 95, 99)}), _num(ratio),
                        _num(run.get("cpu_ms_per_request"))]
            both = len(runs) > 1 and all(runs) and runs[1]["hits_per_s"]
            row.append(f"{runs[0]['hits_per_s'] / runs[1]['hits_per_s']:.0f}x" if both else "")
            floor = results["floor"]["load"].get(workload, {}).get(str(connections))
            row.append(_pct({f"p{q}": floor[f"p{q}_ms"] for q in (50, 95, 99)}) if floor else "")
            rows.append(row)
    return _table(header, rows)


def _ratio(value: float | None, chat: float | None) -> float | None:
    return value / chat if value is not None and chat else None


def _paired(run: dict[str, Any], chat: dict[str, Any], figure: str) -> float | None:
    """The median of the rounds' ratios of `figure`: each round ran every API back to back (bench/apis.py)."""
    pairs = zip(run[f"rounds_{figure}"], chat[f"rounds_{figure}"], strict=True)
    ratios = [value / base for value, base in pairs if base]
    return float(np.median(ratios)) if ratios else None


def _two(values: list[float | None], digits: int) -> str:
    return ", ".join("-" if value is None else f"{value:.{digits}f}" for value in values)


_KINDS = ("exact", "semantic")


def api_ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per API, its ratios to chat's: "p50 exact" ... at concurrency 1 (above 1: slower), "hits/s semantic c16"
    ... (below 1: slower), "CPU exact c16" ... per hit (above 1: costlier)."""
    chat = results["chat"]
    ratios: dict[str, dict[str, float | None]] = {}
    for name, figures in results.items():
        row = ratios[name] = {}
        for kind in _KINDS:
            row[f"p50 {kind}"] = _ratio(figures[f"{kind}_hit"].get("p50"), chat[f"{kind}_hit"].get("p50"))
            for connections, run in figures["load"][kind].items():
                base = chat["load"][kind][connections]
                row[f"hits/s {kind} c{connections}"] = _paired(run, base, "hits_per_s")
                row[f"CPU {kind} c{connections}"] = _paired(run, base, "cpu_ms_per_request")
    return ratios


def _apis(results: dict[str, Any], concurrency: tuple[int, ...]) -> list[str]:
    """Each API's hit figures (bench/apis.py), their ratios to chat's, and whether each is within 10 % of chat's
    (issue 13: p50 at most 1.10x, hits/s at least 0.90x)."""
    ratios = api_ratios(results)
    busiest = concurrency[-1]
    header = ["API", "hit p50 ms (c1): exact, semantic (served/sent)", "p50 / chat's"]
    for connections in concurrency:
        header += [f"hits/s exact, semantic (c{connections})", f"hits/s / chat's (c{connections})"]
    header += [f"CPU ms/hit exact, semantic (c{busiest})", "CPU / chat's"]
    rows = []
    for name, figures in results.items():
        hits = [figures[f"{kind}_hit"] for kind in _KINDS]
        row = [name, f"{_two([hit.get('p50') for hit in hits], 3)} ({', '.join(hit['hits'] for hit in hits)})",
               _two([ratios[name][f"p50 {kind}"] for kind in _KINDS], 2)]
        for connections in concurrency:
            row += [_two([figures["load"][kind][str(connections)]["hits_per_s"] for kind in _KINDS], 0),
                    _two([ratios[name][f"hits/s {kind} c{connections}"] for kind in _KINDS], 2)]
        row += [_two([figures["load"][kind][str(busiest)]["cpu_ms_per_request"] for kind in _KINDS], 3),
                _two([ratios[name][f"CPU {kind} c{busiest}"] for kind in _KINDS], 2)]
        rows.append(row)
    worst_p50 = max(((value, f"{name} {figure}") for name, row in ratios.items() for figure, value in row.items()
                     if figure.startswith("p50") and value is not None), default=None)
    worst_rate = min(((value, f"{name} {figure}") for name, row in ratios.items() for figure, value in row.items()
                      if figure.startswith("hits/s") and value is not None), default=None)
    if worst_p50 is None or worst_rate is None:
        return [*_table(header, rows), "", "Every API within 10 % of chat's hits (issue 13): not measured."]
    met = "yes" if worst_p50[0] <= 1.1 and worst_rate[0] >= 0.9 else "**no**"
    return [*_table(header, rows), "",
            f"Every API within 10 % of chat's hits (issue 13): {met}; the slowest p50 is {worst_p50[0]:.2f}x chat's "
            f"({worst_p50[1]}), the fewest hits/s {worst_rate[0]:.2f}x chat's ({worst_rate[1]})."]


def markdown(results: dict[str, Any], workloads: dict[str, str]) -> str:
    names = list(results["services"])
    lines = [f"Measured {results['when']} on {results['cpus']} CPUs, load generator included; fake upstream "
             f"{results['plan']['upstream_secs'] * 1000:.0f} ms per answer; cosine similarity 0.80; "
             f"run took {results['seconds']:.0f} s.", "", "Targets (issue 5):", ""]
    if results.get("incomplete"):
        lines[:0] = [f"**Incomplete run** ({results['incomplete']}): rows without figures were not measured.", ""]
    lines += _table(["target", *names, "met by ours"],
                    [[label, *(_num(v) for v in values), verdict] for label, values, verdict in
                     evaluate(results, names)])
    lines += ["", "Latency at concurrency 1 (sequential client):", "", *_c1(results)]
    lines += ["", f"Under load (wrk, {results['plan']['load_secs']} s per row; CPU = the service's processes, "
              "LiteLLM's embeddings included):", "", *_load(results, workloads)]
    for name in names:
        if results["services"][name].get("apis"):
            lines += ["", f"Hits by API, {name} (the same questions through each API; wrk for hits/s; the "
                      f"APIs taking turns, {results['plan']['api_rounds']} rounds: medians, and ratios to chat's the "
                      "median of the rounds'):", "",
                      *_apis(results["services"][name]["apis"], tuple(results["plan"]["concurrency"]))]
    lines += ["", "Resources:", ""]
    lines += _table(["measure", *names], [
        ["Redis memory per entry (bytes)", *(_num(results["services"][n].get("redis_bytes_per_entry")) for n in names)],
        ["metrics events per entry, not counted above (bytes)",
         *(_num(results["services"][n].get("redis_metrics_bytes_per_entry")) for n in names)],
        ["start-up to first served request (s)", *(_num(results["services"][n].get("startup_secs")) for n in names)],
    ])
    if results.get("sizes"):
        lines += ["", "Cache sizes (bench/sizes.py):", "", *results["sizes_markdown"]]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], directory: Path, workloads: dict[str, str]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "results.json"
    as_json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    as_markdown = directory / "results.md"
    as_markdown.write_text(markdown(results, workloads))
    return as_json, as_markdown

