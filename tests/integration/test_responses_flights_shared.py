"""Responses single-flight across workers: two served gateways sharing one Redis (an index and a key prefix) make one
upstream call for identical concurrent Responses requests, streamed and not, and every caller gets the same answer
under its own id (the chat version: test_single_flight.py)."""

from __future__ import annotations

import pytest

from tests.support.clients import client
from tests.support.flights import PROMPT, N, shared_gateways, together

RESPONSES = "/v1/responses"


def create(gateway):
    """(x-cache, x-cache-layer, answer text, response id)."""
    raw = client(gateway).responses.with_raw_response.create(model="gpt-4.1-mini", input=PROMPT)
    response = raw.parse()
    return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), response.output_text, response.id


def streamed(gateway):
    """(x-cache, x-cache-layer, the text the deltas carried, the completed response's id)."""
    with client(gateway).responses.with_streaming_response.create(
            model="gpt-4.1-mini", input=PROMPT, stream=True) as raw:
        events = list(raw.parse())
    assert events[-1].type == "response.completed", events[-1]
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text
    return raw.headers.get("x-cache"), raw.headers.get("x-cache-layer"), deltas, events[-1].response.id


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_identical_responses_across_workers_make_one_upstream_call(make_gateway, fake_upstream, stream: bool) -> None:
    one, two = shared_gateways(make_gateway, 2)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.5, 0.05
    call = streamed if stream else create
    results = together([lambda: call(one), lambda: call(two)] * (N // 2))
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls(RESPONSES) == 1
    assert sorted(result[:2] for result in results) == [("hit", "flight")] * (N - 1) + [("miss", None)]
    assert len({text for _, _, text, _ in results}) == 1
    assert len({ident for _, _, _, ident in results}) == N  # each caller its own id to go on from
    one.drain()
    two.drain()
    assert create(two)[:2] == ("hit", "exact") and create(one)[:2] == ("hit", "exact")
    assert fake_upstream.calls(RESPONSES) == 1
