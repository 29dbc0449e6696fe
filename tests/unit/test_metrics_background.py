"""The upstream calls the gateway made on its own (refreshes, prefetches) and their tokens, per window, in the
dashboard's summary and in /metrics: counted by kind, only kinds the gateway makes, and gone with their window."""

from __future__ import annotations

from gateway.metrics import prometheus
from gateway.metrics.aggregate import snapshot
from gateway.metrics.rolling import RollingWindow
from tests.support.events import NOW, event


def background(kind: str, tokens: int, ts: int = NOW):
    return event("refresh", upstream=300.0, saved=tokens, ts=ts)._replace(event=kind, tokens_saved=0)


def test_background_calls_and_their_tokens_by_kind() -> None:
    served = [event("hit", layer="stale"), background("refresh", 30), background("prefetch", 20),
              background("prefetch", 24), background("made-up", 1000), event("miss")]
    window = RollingWindow(60, threshold=0.1, max_events=1000)
    window.add(served, NOW)
    figures = snapshot(window, [], now_ms=NOW, threshold=0.1)
    assert figures["summary"]["background"] == {"refresh": {"calls": 1, "tokens": 30},
                                                "prefetch": {"calls": 2, "tokens": 44}}
    assert figures["summary"]["hit_rate"] == 0.5  # none of them is a client's request
    lines = prometheus.render({"1m": figures}, {}).splitlines()
    assert 'latency_slayer_background_calls{window="1m",kind="prefetch"} 2' in lines
    assert 'latency_slayer_background_tokens{window="1m",kind="prefetch"} 44' in lines
    assert 'latency_slayer_background_tokens{window="1m",kind="refresh"} 30' in lines
    assert not any("made-up" in line for line in lines if line.startswith("latency_slayer_background"))
    later = NOW + 120_000
    window.add([], later)
    assert snapshot(window, [], now_ms=later, threshold=0.1)["summary"]["background"]["prefetch"] == {
        "calls": 0, "tokens": 0}
