"""The answers written without a client asking (the gateway's refreshes and prefetches, a warming run's misses),
their tokens and the hits later served from them (their yield), per window, in the dashboard's summary and in
/metrics: counted by kind, only the kinds there are, and gone with their window."""

from __future__ import annotations

from gateway.metrics import prometheus
from gateway.metrics.aggregate import snapshot
from gateway.metrics.events import decode, encode
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
    assert figures["summary"]["background"] == {"refresh": {"calls": 1, "tokens": 30, "hits": 0},
                                                "prefetch": {"calls": 2, "tokens": 44, "hits": 0},
                                                "warming": {"calls": 0, "tokens": 0, "hits": 0}}
    assert figures["summary"]["hit_rate"] == 0.5  # none of them is a client's request
    lines = prometheus.render({"1m": figures}, {}).splitlines()
    assert 'latency_slayer_background_calls{window="1m",kind="prefetch"} 2' in lines
    assert 'latency_slayer_background_tokens{window="1m",kind="prefetch"} 44' in lines
    assert 'latency_slayer_background_tokens{window="1m",kind="refresh"} 30' in lines
    assert not any("made-up" in line for line in lines if line.startswith("latency_slayer_background"))
    later = NOW + 120_000
    window.add([], later)
    assert snapshot(window, [], now_ms=later, threshold=0.1)["summary"]["background"]["prefetch"] == {
        "calls": 0, "tokens": 0, "hits": 0}


def test_hits_served_from_background_answers_are_their_writers_yield() -> None:
    warmed = event("miss", upstream=300.0, saved=40)._replace(tokens_saved=0, origin="warming")
    served = [warmed, background("prefetch", 20)._replace(origin="prefetch"),
              event("hit", saved=20)._replace(origin="prefetch"), event("hit", layer="semantic")._replace(
                  origin="prefetch", distance=0.01), event("hit", layer="stale")._replace(origin="refresh"),
              event("hit", saved=40)._replace(origin="warming"), event("hit"), event("miss"),
              event("hit")._replace(origin="made-up")]
    window = RollingWindow(60, threshold=0.1, max_events=1000)
    window.add([decode(encode(each)) for each in served], NOW)  # as the stream keeps them
    figures = snapshot(window, [], now_ms=NOW, threshold=0.1)
    assert figures["summary"]["background"] == {"refresh": {"calls": 0, "tokens": 0, "hits": 1},
                                                "prefetch": {"calls": 1, "tokens": 20, "hits": 2},
                                                "warming": {"calls": 1, "tokens": 40, "hits": 1}}
    assert figures["summary"]["outcomes"]["miss"] == 2  # a warming run's miss is still a request it made
    lines = prometheus.render({"1m": figures}, {}).splitlines()
    assert 'latency_slayer_background_hits{window="1m",kind="prefetch"} 2' in lines
    assert 'latency_slayer_background_hits{window="1m",kind="warming"} 1' in lines
    assert 'latency_slayer_background_calls{window="1m",kind="warming"} 1' in lines
    assert any(line.startswith("# HELP latency_slayer_background_hits ") for line in lines)
    later = NOW + 120_000
    window.add([], later)
    assert snapshot(window, [], now_ms=later, threshold=0.1)["summary"]["background"]["warming"] == {
        "calls": 0, "tokens": 0, "hits": 0}
