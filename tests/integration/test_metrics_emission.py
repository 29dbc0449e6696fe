"""One event per request, through the served gateway on both stores: the right outcome, layer, tokens and
timings; nothing secret in it; and a metrics outage that never fails a request."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from gateway.metrics.events import encode
from gateway.metrics.prices import PriceTable
from gateway.wire.canonical import tenant_digest
from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, UNRELATED, ask, client, stream
from tests.support.events import events_of, raw_fields, served, settle

CLIENT_KEY = "sk-client-one"  # what `ask` and `stream` send


def test_one_event_per_request_with_its_outcome_layer_and_tokens(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    ask(gateway)  # miss
    ask(gateway)  # exact hit
    ask(gateway, PARAPHRASE, headers={"x-route": "default"})  # semantic hit
    stream(gateway, UNRELATED)  # streamed miss
    stream(gateway, UNRELATED)  # streamed hit
    ask(gateway, PROMPT, n=2)  # bypass
    ask(gateway, "a question for the support route", headers={"x-route": "support"})  # miss
    fake_upstream.fail_next(429)
    with pytest.raises(openai.RateLimitError):
        ask(gateway, "rate limited")
    assert httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "gpt-4o-mini"}).status_code == 400
    client(gateway).models.list()  # forwarded untouched: not a cache request, no event

    events = events_of(gateway)
    assert [(e.outcome, e.layer, e.stream, e.status) for e in events] == [
        ("miss", None, False, 200), ("hit", "exact", False, 200), ("hit", "semantic", False, 200),
        ("miss", None, True, 200), ("hit", "exact", True, 200), ("bypass", None, False, 200),
        ("miss", None, False, 200), ("error", None, False, 429), ("error", None, False, 400)]
    miss, exact, semantic, streamed_miss, streamed_hit, bypass, support, limited, invalid = events
    assert {e.event for e in events} == {"chat"} and len({e.source for e in events}) == 1
    assert [e.model for e in events[:-1]] == ["gpt-4o-mini"] * 8 and invalid.model == ""
    assert support.route == "support" and {e.route for e in events} - {"support"} == {"default"}

    # The fake upstream counts words: 6 in the prompt, 9 in "answer N to: How do I reset my password?".
    assert (miss.prompt_tokens, miss.completion_tokens, miss.tokens_saved, miss.cost_saved) == (6, 9, 0, 0.0)
    assert (exact.prompt_tokens, exact.completion_tokens, exact.tokens_saved) == (6, 9, 15)
    assert exact.cost_saved == pytest.approx(PriceTable().cost("gpt-4o-mini", 6, 9)) and exact.cost_saved > 0
    threshold = gateway.settings.cache_distance_threshold
    assert semantic.tokens_saved == 15 and 0 < semantic.distance <= threshold and semantic.threshold == threshold
    assert exact.distance is None and miss.distance is None
    assert streamed_miss.completion_tokens > 0 and streamed_hit.tokens_saved == streamed_miss.prompt_tokens + \
        streamed_miss.completion_tokens  # usage the gateway asked upstream for, kept with the answer

    for went_upstream in (miss, streamed_miss, bypass, support, limited):
        assert went_upstream.upstream_ms is not None and 0 < went_upstream.upstream_ms <= went_upstream.latency_ms
    assert exact.upstream_ms is None and semantic.upstream_ms is None and invalid.upstream_ms is None
    assert streamed_miss.ttfb_ms is not None and 0 < streamed_miss.ttfb_ms <= streamed_miss.latency_ms
    assert streamed_hit.ttfb_ms is not None and miss.ttfb_ms is None  # time to first byte is for streams
    assert all(e.latency_ms > 0 for e in events)
    assert all(abs(e.ts - time.time() * 1000) < 60_000 for e in events)


def test_a_client_leaving_mid_stream_is_an_error_event(make_gateway, fake_upstream) -> None:
    gateway = served(make_gateway, "memory")
    fake_upstream.chunk_delay = 0.05
    with client(gateway).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True) as raw:
        for _ in zip(range(2), raw.parse(), strict=False):
            pass  # leave after two chunks: the SDK closes the connection
    deadline = time.monotonic() + 5
    while not (events := events_of(gateway)):
        assert time.monotonic() < deadline, "no event for the abandoned stream"
        time.sleep(0.05)
    [left] = events
    assert (left.outcome, left.status, left.stream) == ("error", 499, True)
    assert left.ttfb_ms is not None and left.upstream_ms is not None


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_an_upstream_that_never_answered_adds_no_upstream_time(make_gateway, fake_upstream, streamed: bool) -> None:
    """The dashboard's upstream latency is the time of answers: a timed-out call is an error event without one."""
    gateway = served(make_gateway, "memory", UPSTREAM_TIMEOUT_SECS="0.3")
    fake_upstream.delay_next(3.0)
    with pytest.raises(openai.APIStatusError):
        (stream if streamed else ask)(gateway)
    [failed] = events_of(gateway)
    assert (failed.outcome, failed.status, failed.stream, failed.upstream_ms) == ("error", 504, streamed, None)


def test_a_client_leaving_while_sending_its_body_is_a_499_event(make_gateway, fake_upstream) -> None:
    """It is the client's doing, not the gateway's: recorded as 499 (client closed request), never a 400 or 500."""
    gateway = served(make_gateway, "memory")
    with socket.create_connection(("127.0.0.1", gateway.port)) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b"authorization: Bearer sk-client-one\r\ncontent-length: 1000\r\n\r\n{\"model\": ")
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not (events := events_of(gateway)):
        assert time.monotonic() < deadline, "no event for the abandoned request"
        time.sleep(0.05)
    [left] = events
    assert (left.event, left.outcome, left.status) == ("chat", "error", 499)
    assert fake_upstream.calls() == 0


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_client_that_leaves_right_after_done_got_a_miss_not_an_error(make_gateway, fake_upstream, store) -> None:
    """Synchronous SDK clients close the connection once they read `data: [DONE]`, before the chunked terminator;
    here the upstream is slow to end its stream after [DONE], so the gateway's is too unless it ends at [DONE]."""
    gateway = served(make_gateway, store)
    fake_upstream.stream_linger = 0.3
    sdk = client(gateway)
    for number in range(3):
        question = [{"role": "user", "content": f"Question {number} on cats"}]
        with sdk.chat.completions.create(model="gpt-4o-mini", stream=True, messages=question) as chunks:
            read = list(chunks)  # to `[DONE]`, where the SDK stops reading
        assert read[-1].choices[0].finish_reason == "stop"
    for number in range(3):
        body = {"model": "gpt-4o-mini", "stream": True,
                "messages": [{"role": "user", "content": f"Question {number} on dogs"}]}
        with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body, timeout=10,
                          headers={"authorization": f"Bearer {CLIENT_KEY}"}) as response:
            seen = b""
            for part in response.iter_raw():
                seen += part
                if b"data: [DONE]" in seen:
                    break  # and hang up
    time.sleep(0.5)
    events = events_of(gateway)
    assert [(event.outcome, event.status) for event in events] == [("miss", 200)] * 6
    assert ask(gateway, "Question 1 on dogs")[0] == "hit"  # stored, too


def test_embeddings_requests_have_events_too(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    embeddings = client(gateway).embeddings
    for _ in range(2):
        embeddings.create(model="text-embedding-3-small", input=["one two", "three"], dimensions=8)
        gateway.drain()
    miss, hit = events_of(gateway)
    assert (miss.event, miss.outcome, hit.outcome, hit.layer) == ("embeddings", "miss", "hit", "exact")
    assert miss.model == "text-embedding-3-small" and miss.prompt_tokens == 3 and miss.completion_tokens == 0
    assert hit.tokens_saved == 3 and hit.cost_saved == pytest.approx(3 * 0.02 / 1e6)


def test_no_prompt_answer_or_key_is_ever_in_an_event(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    _, _, first = ask(gateway)
    ask(gateway, PARAPHRASE)
    _, chunks = stream(gateway, UNRELATED)
    answers = [first.choices[0].message.content, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)]
    secrets = [PROMPT, PARAPHRASE, UNRELATED, *answers, CLIENT_KEY, UPSTREAM_KEY, tenant_digest(CLIENT_KEY),
               "reset my password", "capital of France"]
    entries = raw_fields(gateway)
    assert len(entries) == 3
    leaked = [(secret, value) for entry in entries for value in entry.values() for secret in secrets
              if secret.lower() in value.lower()]
    assert leaked == []
    assert set(entries[0]) == set(encode(events_of(gateway)[0]))  # no field beyond the schema


def test_redis_stopped_requests_still_succeed_and_events_resume(make_gateway, redis_server) -> None:
    gateway = served(make_gateway, "redis")
    ask(gateway)
    assert [e.outcome for e in events_of(gateway)] == ["miss"]
    redis_server.stop()
    try:
        for number in range(3):
            state, _, completion = ask(gateway, f"question {number} while Redis is down")
            assert state == "bypass" and completion.choices[0].message.content
        settle(gateway)  # the writer tries, fails on connecting, counts the events lost
        counters = gateway.gateway.events.counters()
        assert counters["lost"] >= 1 and counters["queued"] == 0
        dashboard = httpx.get(f"{gateway.url}/dashboard/data?window=60")
        assert dashboard.status_code == 200 and dashboard.json()["stale"]  # last known figures, said to be stale
    finally:
        redis_server.restart()
    deadline = time.monotonic() + 10
    while True:  # the writer rests STORE_RETRY_SECS after a failure, then writes again
        ask(gateway, "a question once Redis is back", headers={"x-route": "after-outage"})
        if any(e.route == "after-outage" for e in events_of(gateway)):
            break
        assert time.monotonic() < deadline, "events did not resume"
        time.sleep(0.3)
