"""A bounded soak: eight SDK clients for a minute against the Redis-backed gateway, mixing cache hits, misses
and streams. Zero failed calls, no wrong answer; the process's memory and its established connections flat
between the first and the last third of the run; and once the traffic stops, the open sockets back to where
they were before it. The figures are printed (`pytest -s`). SOAK_SECS changes the length (10 to 600 s); the
default keeps the test in the normal suite at about 70 s."""

from __future__ import annotations

import os
import statistics
import time

from tests.support.traffic import Traffic, open_sockets, rss_kib, socket_states, wait_until

SOAK_SECS = min(600.0, max(10.0, float(os.environ.get("SOAK_SECS", "60"))))
SAMPLE_SECS = 2.0
# Legitimate growth over a run: the policy's LRU of recent prompt vectors (<= 4096 x 384 floats, ~7 MB) fills
# with the fresh prompts, plus allocator slack. A leak of a request's worth per call (thousands of calls) is
# far beyond this.
RSS_GROWTH_LIMIT_KIB = 24 * 1024
SOCKET_GROWTH_LIMIT = 4
# While traffic runs, the pools (the upstream's, Redis's, single-flight's) may still reach a peak of concurrent use
# late in the run (one connection each for 8 clients at worst): a leak of one a call would be thousands.
BUSY_SOCKET_GROWTH_LIMIT = 8
# The SDK drops its connection after every stream and hypercorn closes its side only at its keep-alive timeout
# (5 s), so sockets in CLOSE_WAIT come and go with the stream rate: they are counted apart, and the leak check
# is made once they had the time to go.
IDLE_SECS = 8.0


def test_soak_mixed_traffic_for_a_minute(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("redis")
    traffic = Traffic(gateway.base_url, workers=8, max_calls=1_000_000, fresh_every=5, keep_all=False)
    samples: list[tuple[float, int, int, int, int]] = []  # (s, RSS KiB, established, close_wait, calls so far)
    started = time.monotonic()
    traffic.start()
    try:
        while (elapsed := time.monotonic() - started) < SOAK_SECS:
            time.sleep(min(SAMPLE_SECS, max(0.0, SOAK_SECS - elapsed)))
            fake_upstream.reset()  # the fake keeps every request it saw: that is the harness, not the gateway
            states = socket_states()
            samples.append((time.monotonic() - started, rss_kib(), states.get("established", 0),
                            states.get("close_wait", 0), traffic.total()))
    finally:
        traffic.stop()
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    established_first, established_last = max(s[2] for s in first), max(s[2] for s in last)
    # Idle, only the pools may stay open (client, upstream and Redis connections): no more than were in use early on.
    settled = wait_until(lambda: open_sockets() <= established_first + SOCKET_GROWTH_LIMIT, timeout=IDLE_SECS,
                         interval=0.2)
    after = socket_states()
    outcomes = traffic.snapshot()
    failed = [f"{o.prompt!r} streamed={o.streamed}: {o.error}" for o in outcomes if o.error]
    wrong = [f"{o.prompt!r} ({o.state}/{o.layer}): {o.text!r}" for o in outcomes if not o.error]
    calls = traffic.total()

    rss_first = statistics.median(s[1] for s in first)
    rss_last = statistics.median(s[1] for s in last)
    rate_first = first[-1][4] / first[-1][0]
    rate_last = (last[-1][4] - last[0][4]) / max(0.001, last[-1][0] - last[0][0])
    report = (f"soak {SOAK_SECS:.0f} s, 8 workers: {calls} calls ({calls / SOAK_SECS:.0f}/s), {traffic.counts}; "
              f"RSS first third {rss_first / 1024:.1f} MiB -> last third {rss_last / 1024:.1f} MiB "
              f"({(rss_last - rss_first) / 1024:+.1f} MiB); established sockets {established_first} -> "
              f"{established_last}; close_wait peak {max(s[3] for s in samples)}; sockets once idle {after}; "
              f"rate {rate_first:.0f}/s -> {rate_last:.0f}/s")
    print("\n" + report)
    for line in (failed + wrong)[:10]:
        print("  " + line[:300])
    assert not failed, f"{len(failed)} failed calls: {failed[:5]}\n{report}"
    assert not wrong, f"{len(wrong)} wrong answers: {wrong[:5]}\n{report}"
    assert traffic.counts.get("hit", 0) and traffic.counts.get("miss", 0) and traffic.counts.get("hit-stream", 0)
    assert rss_last - rss_first < RSS_GROWTH_LIMIT_KIB, report
    assert established_last <= established_first + BUSY_SOCKET_GROWTH_LIMIT, report
    assert settled, f"sockets still open after the traffic stopped: {report}"
    assert rate_last > rate_first / 2, f"the gateway slowed down over the run: {report}"
