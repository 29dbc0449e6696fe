"""What the demo prints: a progress bar while it replays, then a summary of the gateway's own events (the
figures the dashboard shows): hits against misses, what they saved."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from gateway.metrics.aggregate import distance_histogram
from gateway.metrics.events import Event
from gateway.metrics.stats import latency_figures, summary

BAR_WIDTH = 28


class Progress:
    """Redrawn in place on a terminal; on a pipe, one line per quarter so logs stay readable."""

    def __init__(self, total: int, out: TextIO) -> None:
        self._total = total
        self._out = out
        self._tty = out.isatty()
        self._states: Counter[str] = Counter()
        self._quarter = 0

    def advance(self, state: str) -> None:
        self._states[state] += 1
        done = sum(self._states.values())
        if self._tty:
            self._out.write("\r" + self._line(done))
            if done == self._total:
                self._out.write("\n")
        elif done * 4 >= (self._quarter + 1) * self._total:
            self._quarter = done * 4 // self._total
            self._out.write(self._line(done) + "\n")
        self._out.flush()

    def _line(self, done: int) -> str:
        filled = BAR_WIDTH * done // self._total
        hits, misses = self._states["hit"], done - self._states["hit"]
        return (f"  [{'█' * filled}{'░' * (BAR_WIDTH - filled)}] {done:>{len(str(self._total))}}/{self._total}"
                f"  hits {hits}  misses {misses}  hit rate {hits / done:.0%}")


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _duration(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms < 120_000 else f"{ms / 60_000:.1f} min"


def _row(name: str, events: Sequence[Event], total: int) -> str:
    figures = latency_figures([event.latency_ms for event in events])
    share = f"{len(events) / total:.0%}" if total else "–"
    return f"  {name:<18}{len(events):>9}{share:>8}{_ms(figures['p50']):>11}{_ms(figures['p95']):>11}"


def report(events: Sequence[Event], threshold: float) -> str:
    totals = summary(events)
    by_kind = {  # every event in exactly one row, so the rows add up to "all"
        "hits (exact)": [e for e in events if e.hit and e.layer == "exact"],
        "hits (semantic)": [e for e in events if e.hit and e.layer == "semantic"],
        "hits (in flight)": [e for e in events if e.hit and e.layer not in ("exact", "semantic")],
        "misses": [e for e in events if e.outcome == "miss"],
        "bypass or error": [e for e in events if e.outcome in ("bypass", "error")],
    }
    optional = {"hits (in flight)", "bypass or error"}  # shown when there are any
    count = len(events)
    lines = [f"  {'':<18}{'requests':>9}{'share':>8}{'p50':>11}{'p95':>11}"]
    lines += [_row(name, group, count) for name, group in by_kind.items() if group or name not in optional]
    lines += ["  " + "─" * 57, _row("all", events, count), ""]
    hits = totals["outcomes"]["hit"]
    speedup = ""
    if totals["latency"]["hit"]["p50"] and totals["latency"]["miss"]["p50"]:
        speedup = f" · a hit is {totals['latency']['miss']['p50'] / totals['latency']['hit']['p50']:,.0f}x faster"
    lines.append(f"  hit rate {totals['hit_rate'] or 0:.1%} · {hits} upstream calls avoided{speedup}")
    lines.append(f"  tokens saved {totals['tokens_saved']:,} · est. cost saved ${totals['cost_saved']:.4f}"
                 f" · waiting saved {_duration(totals['wait_saved_ms'])}")
    distances = distance_histogram(events, threshold)
    if distances["hits"]:
        lines.append(f"  semantic hits: median distance {distances['p50']:.3f}, max {distances['max']:.3f}"
                     f" (threshold {threshold:.2f}), {distances['close_calls']} close calls")
    return "\n".join(lines)
