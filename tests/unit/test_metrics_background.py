"""The upstream calls the gateway made on its own (refreshes, prefetches) and their tokens, and the answers written
without a client asking (those, and a warming run's) with the hits later served from them (their yield), per
window, in the dashboard's summary and in /metrics: counted by kind, only the kinds there are, and gone with their
window."""

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


def test_answers_written_without_a_client_and_their_hits_are_each_kinds_yield() -> None:
    served = [event("miss", upstream=300.0, saved=40)._replace(tokens_saved=0, origin="warming"),
              background("prefetch", 20)._replace(origin="prefetch"),
              background("refresh", 9)._replace(origin="refresh"),
              event("hit", saved=20)._replace(origin="prefetch"),
              event("hit", layer="semantic", distance=0.01)._replace(origin="prefetch"),
              event("hit", layer="stale")._replace(origin="refresh"), event("hit", saved=40)._replace(origin="warming"),
              event("hit"), event("miss"), event("hit")._replace(origin="made-up"),
              event("miss")._replace(origin="made-up")]
    window = RollingWindow(60, threshold=0.1, max_events=1000)
    window.add([decode(encode(each)) for each in served], NOW)  # as the stream keeps them
    summary = snapshot(window, [], now_ms=NOW, threshold=0.1)["summary"]
    assert summary["yield"] == {"refresh": {"written": 1, "hits": 1}, "prefetch": {"written": 1, "hits": 2},
                                "warming": {"written": 1, "hits": 1}}
    # a warming run's miss is no call the gateway made on its own, and still a request it was sent
    assert summary["background"]["prefetch"] == {"calls": 1, "tokens": 20} and "warming" not in summary["background"]
    assert summary["outcomes"]["miss"] == 3
    lines = prometheus.render({"1m": snapshot(window, [], now_ms=NOW, threshold=0.1)}, {}).splitlines()
    assert 'latency_slayer_background_hits{window="1m",kind="prefetch"} 2' in lines
    assert 'latency_slayer_background_written{window="1m",kind="warming"} 1' in lines
    assert 'latency_slayer_background_hits{window="1m",kind="warming"} 1' in lines
    assert any(line.startswith("# HELP latency_slayer_background_hits ") for line in lines)
    later = NOW + 120_000
    window.add([], later)
    assert snapshot(window, [], now_ms=later, threshold=0.1)["summary"]["yield"]["warming"] == {"written": 0, "hits": 0}
