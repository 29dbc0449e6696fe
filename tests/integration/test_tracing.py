"""OpenTelemetry traces (`OTEL_TRACES_EXPORTER=otlp`) sent to a real OTLP/HTTP receiver on loopback
(`tests.support.otlp_receiver`), on both stores: each request's span tree and attributes for a miss, an exact
hit, a semantic hit and a stream; the client's W3C trace context continued and passed upstream with the upstream
span as the forwarded request's parent; nothing a request carried in any span. Off (the default), nothing is
exported, nothing of OpenTelemetry is imported, and the client's `traceparent` goes upstream unchanged."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, ask, client, text_of
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

ROOT = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-client-one"  # the key `ask` sends
SERVER = "POST /v1/chat/completions"
UPSTREAM = "POST upstream"
LOOKUP = ("cache.exact_lookup", "cache.embedding", "cache.vector_search")


@pytest.fixture
def otlp():
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def traced(otlp: OtlpReceiver, make_gateway, store_kind: str, monkeypatch: pytest.MonkeyPatch):
    # The receiver first, so it closes last: a gateway stopping sends what it has left to a receiver still there,
    # not to a closed port its exporter would retry for seconds.
    # The SDK reads its batch delay (5 s by default) from the environment when the gateway builds its tracer.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    return make_gateway(store_kind, OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)


def trace_context() -> tuple[str, str, dict[str, str]]:
    """A client's own trace id and span id, and the headers naming them."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, {"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": "vendor=client-state"}


def server_span(spans: list[ReceivedSpan], parent: str) -> ReceivedSpan:
    (server,) = [span for span in spans if span.kind == "server"]
    assert server.name == SERVER and server.parent_id == parent and server.service == "latency-slayer"
    return server


def children(spans: list[ReceivedSpan], server: ReceivedSpan) -> dict[str, list[ReceivedSpan]]:
    """The server span's children by name; every other span of the trace must be one."""
    found: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        if span is not server:
            assert span.parent_id == server.span_id, span
            found.setdefault(span.name, []).append(span)
    return found


def assert_nothing_carried(spans: list[ReceivedSpan], *texts: str) -> None:
    """No prompt, answer, key or entry id in any span's name, attribute or event."""
    for span in spans:
        values = [span.name, *span.events, *span.attributes, *(str(value) for value in span.attributes.values())]
        for text in texts:
            assert not any(text in value for value in values), (text, span)


def test_a_miss_then_an_exact_hit(traced, otlp: OtlpReceiver, fake_upstream) -> None:
    trace_id, parent, headers = trace_context()
    state, _, first = ask(traced, headers={**headers, "x-request-id": "req-miss-1"})
    assert state == "miss"
    spans = otlp.trace(trace_id, SERVER, UPSTREAM, "cache.store_write")
    server = server_span(spans, parent)
    assert server.attributes == {
        "http.request.method": "POST", "url.path": "/v1/chat/completions", "http.route": "/v1/chat/completions",
        "http.request_id": "req-miss-1", "http.response.status_code": 200, "cache.outcome": "miss",
        "gen_ai.request.model": "gpt-4o-mini", "cache.route": "default", "cache.stream": False}
    steps = children(spans, server)
    assert sorted(steps) == sorted([*LOOKUP, UPSTREAM, "cache.store_write"])
    assert all(len(found) == 1 for found in steps.values())
    assert steps["cache.exact_lookup"][0].attributes == {"cache.found": False}
    (upstream,) = steps[UPSTREAM]
    assert upstream.kind == "client" and not upstream.failed
    assert upstream.events == ("upstream.first_byte", "upstream.last_byte")
    assert upstream.attributes["http.response.status_code"] == 200
    assert upstream.attributes["url.path"] == "/v1/chat/completions"
    assert 0 < upstream.attributes["upstream.first_byte_ms"] <= upstream.attributes["upstream.last_byte_ms"]
    # The upstream call continues the client's trace, as a child of the gateway's upstream span.
    sent = fake_upstream.last().headers
    assert sent["traceparent"] == f"00-{trace_id}-{upstream.span_id}-01"
    assert sent["tracestate"] == "vendor=client-state"

    trace_id, parent, headers = trace_context()
    state, hit_headers, _ = ask(traced, headers=headers)
    assert state == "hit" and hit_headers["x-cache-layer"] == "exact"
    spans = otlp.trace(trace_id, SERVER, "cache.exact_lookup")
    server = server_span(spans, parent)
    assert server.attributes["cache.outcome"] == "hit" and server.attributes["cache.layer"] == "exact"
    assert "cache.distance" not in server.attributes
    steps = children(spans, server)
    assert list(steps) == ["cache.exact_lookup"] and steps["cache.exact_lookup"][0].attributes == {"cache.found": True}
    assert fake_upstream.calls() == 1
    assert_nothing_carried(otlp.spans, PROMPT, first.choices[0].message.content, CLIENT_KEY, UPSTREAM_KEY,
                           hit_headers["x-cache-key"])


def test_a_semantic_hit_shows_the_search_and_the_verifier(traced, otlp: OtlpReceiver) -> None:
    _, _, first = ask(traced)
    trace_id, parent, headers = trace_context()
    state, hit_headers, _ = ask(traced, PARAPHRASE, headers=headers)
    assert state == "hit" and hit_headers["x-cache-layer"] == "semantic"
    spans = otlp.trace(trace_id, SERVER, "cache.verifier")
    server = server_span(spans, parent)
    distance = float(hit_headers["x-cache-distance"])
    assert server.attributes["cache.layer"] == "semantic"
    assert server.attributes["cache.distance"] == pytest.approx(distance, abs=1e-4)
    assert server.attributes["cache.threshold"] == traced.settings.cache_distance_threshold
    steps = children(spans, server)
    assert sorted(steps) == sorted([*LOOKUP, "cache.verifier"])
    assert steps["cache.vector_search"][0].attributes["cache.candidates"] >= 1
    (verified,) = steps["cache.verifier"]
    assert verified.attributes["cache.accepted"] is True
    assert verified.attributes["cache.distance"] == pytest.approx(distance, abs=1e-4)
    assert_nothing_carried(otlp.spans, PROMPT, PARAPHRASE, first.choices[0].message.content, CLIENT_KEY,
                           UPSTREAM_KEY, hit_headers["x-cache-key"])


def test_a_streamed_miss_times_the_upstream_first_and_last_byte(traced, otlp: OtlpReceiver, fake_upstream) -> None:
    trace_id, parent, headers = trace_context()
    with client(traced, **headers).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True) as raw:
        answer = text_of(list(raw.parse()))
        assert raw.headers["x-cache"] == "miss"
    traced.drain()
    spans = otlp.trace(trace_id, SERVER, UPSTREAM, "cache.store_write")
    server = server_span(spans, parent)
    assert server.attributes["cache.stream"] is True and server.attributes["cache.outcome"] == "miss"
    assert server.attributes["http.response.status_code"] == 200
    steps = children(spans, server)
    assert sorted(steps) == sorted([*LOOKUP, UPSTREAM, "cache.store_write"])
    (upstream,) = steps[UPSTREAM]
    assert upstream.events == ("upstream.first_byte", "upstream.last_byte")
    assert fake_upstream.last().headers["traceparent"] == f"00-{trace_id}-{upstream.span_id}-01"
    assert_nothing_carried(otlp.spans, PROMPT, answer, CLIENT_KEY, UPSTREAM_KEY)


def test_an_upstream_error_fails_the_spans_and_is_not_stored(traced, otlp: OtlpReceiver, fake_upstream) -> None:
    fake_upstream.fail_next(500)
    trace_id, parent, headers = trace_context()
    with pytest.raises(openai.InternalServerError):
        client(traced).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}],
                                               extra_headers=headers)
    traced.drain()
    spans = otlp.trace(trace_id, SERVER, UPSTREAM)
    server = server_span(spans, parent)
    assert server.failed and server.attributes["http.response.status_code"] == 500
    assert server.attributes["cache.outcome"] == "error"
    steps = children(spans, server)
    assert "cache.store_write" not in steps
    assert steps[UPSTREAM][0].attributes["http.response.status_code"] == 500


@pytest.mark.parametrize("traceparent", [
    "not a traceparent",
    "00-00000000000000000000000000000000-0000000000000000-01",  # all-zero ids are invalid
    "00-" + "a" * 32 + "-" + "b" * 16 + "-01-" + "x" * 4000,
])
def test_a_bad_traceparent_starts_a_trace_of_its_own(traced, otlp: OtlpReceiver, fake_upstream,
                                                     traceparent: str) -> None:
    request_id = secrets.token_hex(8)
    assert ask(traced, headers={"traceparent": traceparent, "x-request-id": request_id})[0] == "miss"
    deadline = time.monotonic() + 10
    while not (servers := [span for span in otlp.spans if span.attributes.get("http.request_id") == request_id]):
        assert time.monotonic() < deadline, "no server span"
        time.sleep(0.02)
    (server,) = servers
    assert server.parent_id == ""
    sent = fake_upstream.last().headers["traceparent"]
    assert sent.startswith(f"00-{server.trace_id}-") and sent != traceparent


def test_a_long_request_id_is_replaced_by_the_one_the_client_gets(traced, otlp: OtlpReceiver) -> None:
    trace_id, _, headers = trace_context()
    _, answered, _ = ask(traced, headers={**headers, "x-request-id": "r" * 5000})
    (server,) = [span for span in otlp.trace(trace_id, SERVER) if span.kind == "server"]
    assert server.attributes["http.request_id"] == answered["x-request-id"] and len(answered["x-request-id"]) == 32


def test_off_nothing_is_exported_and_the_client_context_goes_upstream_unchanged(make_gateway, store_kind: str,
                                                                              otlp: OtlpReceiver,
                                                                              fake_upstream) -> None:
    gateway = make_gateway(store_kind, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)  # an endpoint alone turns nothing on
    _, _, headers = trace_context()
    assert ask(gateway, headers=headers)[0] == "miss"
    assert ask(gateway, headers=headers)[0] == "hit"
    sent = fake_upstream.last().headers
    assert sent["traceparent"] == headers["traceparent"] and sent["tracestate"] == headers["tracestate"]
    gateway.stop()  # a tracer would send what it has left as it closes
    assert otlp.posts == 0 and otlp.spans == []


# redis-py imports OpenTelemetry's metrics SDK itself whenever it is installed (`redis.observability`): what it
# imports on its own is left out; the gateway must import nothing more.
OFF_PROCESS = textwrap.dedent("""
    import sys
    import redis

    def opentelemetry():
        return {name for name in sys.modules if name.startswith(("opentelemetry", "gateway.otel"))}

    by_redis = opentelemetry()
    from tests.support.fake_upstream import FakeUpstream
    from tests.support.gateway_server import ServedGateway, settings_for
    from tests.support.clients import ask

    with FakeUpstream() as upstream:
        settings = settings_for({"UPSTREAM_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "sk-test",
                                 "LOG_LEVEL": "warning"})
        with ServedGateway(settings) as gateway:
            states = [ask(gateway, headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})[0]
                      for _ in range(2)]
    print(states, sorted(opentelemetry() - by_redis))
""")


def test_off_nothing_of_opentelemetry_is_imported() -> None:
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OTEL_TRACES_EXPORTER", None)
    done = subprocess.run([sys.executable, "-c", OFF_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['miss', 'hit'] []"


def _chat(gateway, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", timeout=10,
                      headers=[("authorization", f"Bearer {CLIENT_KEY}"), *headers],
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]})


def test_several_tracestate_fields_make_one_list(traced, fake_upstream) -> None:
    _, _, headers = trace_context()
    answer = _chat(traced, [("traceparent", headers["traceparent"]), ("tracestate", "one=1"), ("tracestate", "two=2")])
    assert answer.status_code == 200
    assert fake_upstream.last().headers["tracestate"] == "one=1,two=2"


def test_an_oversized_trace_context_writes_nothing_in_the_logs(traced, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    trace_id = secrets.token_hex(16)
    assert _chat(traced, [("traceparent", f"00-{trace_id}-{'b' * 16}-01-" + "x" * 600)]).status_code == 200
    assert _chat(traced, [("traceparent", f"00-{trace_id}-{'b' * 16}-01"), ("tracestate", "a=b," * 2100)]
                 ).status_code == 200
    # An exporter of an earlier test's gateway may still be retrying a collector that is gone: not this one's logs.
    logged = [record for record in caplog.records
              if record.name.startswith("opentelemetry") and not record.name.startswith("opentelemetry.exporter")]
    assert logged == []


@pytest.mark.parametrize("client_context", ["continue", "ignore"])
def test_only_a_trusted_client_decides_what_is_traced(make_gateway, store_kind: str, otlp: OtlpReceiver,
                                                      fake_upstream, monkeypatch: pytest.MonkeyPatch,
                                                      client_context: str) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")  # the gateway samples nothing of its own
    gateway = make_gateway(store_kind, OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
                           TRACE_CLIENT_CONTEXT=client_context)
    trace_id, _, headers = trace_context()  # sampled, as the client says
    assert ask(gateway, headers=headers)[0] == "miss"
    sent = fake_upstream.last().headers["traceparent"]
    gateway.stop()  # sends what it has
    if client_context == "continue":
        assert sent.startswith(f"00-{trace_id}-") and {span.trace_id for span in otlp.spans} == {trace_id}
    else:
        assert trace_id not in sent and otlp.spans == []


def test_a_method_of_the_clients_own_names_no_span(traced, otlp: OtlpReceiver) -> None:
    request_id = secrets.token_hex(8)
    answer = httpx.request("X" * 1000, f"{traced.url}/livez", headers={"x-request-id": request_id}, timeout=10)
    assert answer.status_code == 405
    traced.stop()  # sends what it has
    (server,) = [span for span in otlp.spans if span.attributes.get("http.request_id") == request_id]
    assert server.name.startswith("_OTHER") and server.attributes["http.request.method"] == "_OTHER"
