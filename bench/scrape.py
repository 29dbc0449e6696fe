"""What a scrape costs as the events grow: the three windows' snapshots and the Prometheus text that `/metrics`
serves (the dashboard's data is one of those snapshots), once the window has read the events, for a few counts
of events spread over the last hour. A scrape reads running tallies, so it should cost the same at 200 events
as at 20,000; reading the events in the first place is paid once per event, as they arrive.

    .venv/bin/python -m bench.scrape [--events 200 20000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from gateway.metrics import prometheus
from gateway.metrics.events import Event
from gateway.metrics.memory_sink import MemorySink
from gateway.metrics.window import WINDOWS_S, EventWindow

THRESHOLD = 0.2


def spread(count: int, now_ms: int, chooser: random.Random) -> list[Event]:
    """`count` events of the last hour, oldest first: hits (exact and semantic) and misses of 4 models on 3 routes."""
    events = []
    for _ in range(count):
        outcome = chooser.choice(("hit", "hit", "miss", "bypass"))
        layer = chooser.choice(("exact", "semantic")) if outcome == "hit" else None
        events.append(Event(
            ts=now_ms - chooser.randrange(3_500_000), event="chat", outcome=outcome, layer=layer, stream=False,
            status=200, latency_ms=chooser.lognormvariate(1 if outcome == "hit" else 6, 0.5), upstream_ms=None,
            ttfb_ms=None, distance=chooser.uniform(0, THRESHOLD) if layer == "semantic" else None,
            threshold=THRESHOLD if layer == "semantic" else None, model=chooser.choice(("gpt-4o", "gpt-4o-mini",
                                                                                         "o3", "gpt-5")),
            route=chooser.choice(("support", "docs", "sales")), prompt_tokens=20, completion_tokens=80,
            tokens_saved=100 if outcome == "hit" else 0, cost_saved=0.0001 if outcome == "hit" else 0.0,
            source=f"host:{chooser.randrange(4)}"))
    return sorted(events, key=lambda event: event.ts)


async def measure(count: int, repeat: int) -> tuple[float, float, float]:
    """Milliseconds: reading `count` events once, then the median and 95th percentile of a scrape."""
    now = time.time()
    sink = MemorySink(maxlen=count)
    await sink.write(spread(count, int(now * 1000), random.Random(count)))
    window = EventWindow(sink, max_events=count, clock=lambda: now)  # a still clock: later scrapes read nothing new
    labels = prometheus.window_labels(WINDOWS_S)
    started = time.perf_counter()
    await window.figures(WINDOWS_S, threshold=THRESHOLD)
    read_ms = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        snapshots, _ = await window.figures(list(labels.values()), threshold=THRESHOLD)
        prometheus.render(dict(zip(labels, snapshots, strict=True)), {})
        timings.append((time.perf_counter() - started) * 1000)
    return read_ms, statistics.median(timings), statistics.quantiles(timings, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[200, 20_000])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"{'events':>8} {'first read':>11} {'per event':>10} {'scrape p50':>11} {'scrape p95':>11}")
    for count in args.events:
        read_ms, p50, p95 = asyncio.run(measure(count, args.repeat))
        print(f"{count:>8} {read_ms:>8.1f} ms {read_ms * 1000 / count:>7.1f} µs {p50:>8.2f} ms {p95:>8.2f} ms")


if __name__ == "__main__":
    main()
