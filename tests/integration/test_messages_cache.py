"""Anthropic's Messages API cached like chat completions, through the official `anthropic` SDK against a served
gateway, on both stores: exact and semantic hits, streams replayed as Anthropic streams them, tool use, every scope
rule (tenants, routes, the version and betas asked for, `cache_control` markers neutral), signed thinking kept from
shared routes, identical misses sharing one call, and each request's dashboard event."""

from __future__ import annotations

import httpx
import pytest

from tests.support.anthropic_clients import MODEL, TOOLS, message, post, streamed, text_of
from tests.support.clients import PARAPHRASE, PROMPT, UNRELATED
from tests.support.events import events_of, served
from tests.support.fake_upstream import MESSAGES_PATH
from tests.support.flights import together


def test_exact_repeat_is_a_hit_without_an_upstream_call(gateway, fake_upstream) -> None:
    state, _, first = message(gateway)
    assert state == "miss" and text_of(first).endswith(PROMPT)
    state, headers, second = message(gateway, metadata={"user_id": "u1"},
                                     extra_body={"temperature": 0.3, "top_p": 0.5})
    assert state == "hit" and headers["x-cache-layer"] == "exact" and headers["content-type"] == "application/json"
    assert second.content == first.content and second.usage == first.usage and second.stop_reason == "end_turn"
    assert second.id != first.id and second.id.startswith("msg_")
    assert fake_upstream.calls(MESSAGES_PATH) == 1


def test_paraphrase_is_a_semantic_hit_and_another_question_a_miss(gateway, fake_upstream) -> None:
    _, _, first = message(gateway)
    state, headers, second = message(gateway, PARAPHRASE)
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    assert 0 < float(headers["x-cache-distance"]) <= gateway.settings.cache_distance_threshold
    assert text_of(second) == text_of(first)
    assert message(gateway, UNRELATED)[0] == "miss"
    assert fake_upstream.calls(MESSAGES_PATH) == 2


def test_a_streamed_miss_is_replayed_as_anthropic_streams_and_serves_json_too(gateway, fake_upstream) -> None:
    state, events, first = streamed(gateway)
    assert state == "miss" and first.id.startswith("msg_fake") and text_of(first).endswith(PROMPT)
    state, events, again = streamed(gateway)
    assert state == "hit" and text_of(again) == text_of(first) and again.id != first.id
    assert again.usage.output_tokens == first.usage.output_tokens > 0 and again.stop_reason == "end_turn"
    types = [event.type for event in events if event.type != "text"]  # `text`: the SDK's own, per text delta
    assert types[:2] == ["message_start", "content_block_start"] and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_delta") > 1  # the text in pieces, as a stream brings it
    state, _, whole = message(gateway)
    assert state == "hit" and text_of(whole) == text_of(again) and whole.usage == again.usage
    assert fake_upstream.calls(MESSAGES_PATH) == 1


def test_a_replayed_stream_names_every_event(gateway, fake_upstream) -> None:
    post(gateway, x_api_key="sk-ant-client-one")
    with httpx.stream("POST", f"{gateway.url}/v1/messages", timeout=10, json={
            "model": MODEL, "max_tokens": 256, "stream": True, "messages": [{"role": "user", "content": PROMPT}]},
            headers={"x-api-key": "sk-ant-client-one", "anthropic-version": "2023-06-01"}) as response:
        raw = response.read().decode()
    assert response.headers["x-cache"] == "hit" and response.headers["content-type"].startswith("text/event-stream")
    blocks = [block.splitlines() for block in raw.split("\n\n") if block]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: {") for lines in blocks)
    names = [lines[0][7:] for lines in blocks]
    assert names[:3] == ["message_start", "ping", "content_block_start"] and names[-1] == "message_stop"
    assert all(f'"type":"{name}"' in lines[1] for name, lines in zip(names, blocks, strict=True))


@pytest.mark.parametrize("first_streamed", [False, True], ids=["json-miss", "stream-miss"])
def test_tool_use_is_cached_and_replayed_with_its_input_in_both_modes(gateway, fake_upstream,
                                                                      first_streamed: bool) -> None:
    if first_streamed:
        state, _, first = streamed(gateway, tools=TOOLS)
    else:
        state, _, first = message(gateway, tools=TOOLS)
    assert state == "miss" and first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "search_kb" and call.input == {"q": PROMPT}
    for replay in (streamed(gateway, tools=TOOLS), message(gateway, tools=TOOLS)):
        state, _, again = replay
        assert state == "hit" and again.stop_reason == "tool_use"
        assert [(b.type, b.id, b.name, b.input) for b in again.content] == [(call.type, call.id, call.name,
                                                                              call.input)]
    assert fake_upstream.calls(MESSAGES_PATH) == 1


@pytest.mark.parametrize("change", [
    {"key": "sk-ant-client-two"},
    {"headers": {"x-route": "support"}},
    {"headers": {"anthropic-beta": "output-128k-2025-02-19"}},
    {"system": "Answer in French."},
    {"history": [{"role": "user", "content": "I use Gmail."}, {"role": "assistant", "content": "OK."}]},
    {"max_tokens": 16},
    {"tools": TOOLS},
    {"extra_body": {"top_k": 1}},
    {"model": "claude-haiku-4-5"},
], ids=["tenant", "route", "beta", "system", "history", "max_tokens", "tools", "top_k", "model"])
def test_a_different_scope_never_hits(gateway, fake_upstream, change: dict) -> None:
    message(gateway)
    change = {**change, "headers": {**change.get("headers", {}), "cache-control": "no-store"}}  # nothing of its own
    for prompt in (PROMPT, PARAPHRASE):
        state, headers, _ = message(gateway, prompt, **change)
        assert state == "miss", headers
    assert fake_upstream.calls(MESSAGES_PATH) == 3


def test_cache_control_markers_do_not_change_the_answer(gateway, fake_upstream) -> None:
    marker = {"type": "ephemeral"}
    tools = [{**TOOLS[0], "cache_control": marker}]
    message(gateway, system=[{"type": "text", "text": "Be terse.", "cache_control": marker}], tools=tools)
    state, _, _ = message(gateway, system="Be terse.", tools=TOOLS)
    assert state == "hit"
    assert fake_upstream.calls(MESSAGES_PATH) == 1


def test_one_key_is_one_tenant_as_x_api_key_or_bearer(gateway, fake_upstream) -> None:
    first = post(gateway, x_api_key="sk-ant-one")
    assert first.headers["x-cache"] == "miss" and fake_upstream.last(MESSAGES_PATH).headers["x-api-key"] == "sk-ant-one"
    assert post(gateway, authorization="Bearer sk-ant-one").headers["x-cache"] == "hit"
    assert post(gateway, x_api_key="sk-ant-two").headers["x-cache"] == "miss"
    assert post(gateway).headers["x-cache"] == "miss"  # no credential: the anonymous tenant


THINKING = {"type": "enabled", "budget_tokens": 1024}


def test_signed_thinking_is_replayed_to_its_tenant_and_never_stored_on_a_shared_route(make_gateway, store_kind,
                                                                                      fake_upstream) -> None:
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq")
    _, _, first = message(gateway, thinking=THINKING)
    state, _, again = streamed(gateway, thinking=THINKING)
    assert state == "hit" and [block.type for block in again.content] == ["thinking", "text"]
    assert again.content[0].signature == first.content[0].signature and again.content[0].thinking
    faq = {"x-route": "faq"}
    message(gateway, thinking=THINKING, headers=faq)
    assert message(gateway, thinking=THINKING, headers=faq, key="sk-ant-client-two")[0] == "miss"
    message(gateway, headers=faq)
    assert message(gateway, headers=faq, key="sk-ant-client-two")[0] == "hit"  # plain answers are shared there


def test_identical_concurrent_misses_make_one_upstream_call(gateway, fake_upstream) -> None:
    fake_upstream.latency = 0.5
    results = together([lambda: message(gateway)] * 4 + [lambda: streamed(gateway)] * 4)
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls(MESSAGES_PATH) == 2  # one JSON, one stream: each sent as it was asked
    assert sorted(result[0] for result in results) == ["hit"] * 6 + ["miss"] * 2
    assert len({text_of(result[2]) for result in results}) <= 2


def test_each_request_is_a_messages_event_on_the_dashboard(make_gateway, store_kind, fake_upstream) -> None:
    gateway = served(make_gateway, store_kind)
    message(gateway)
    message(gateway)
    streamed(gateway)
    events = [event for event in events_of(gateway) if event.event == "messages"]
    assert [(event.outcome, event.layer, event.stream) for event in events] == [
        ("miss", None, False), ("hit", "exact", False), ("hit", "exact", True)]
    assert all(event.model == MODEL and event.prompt_tokens > 0 and event.completion_tokens > 0 for event in events)


def test_on_a_shared_route_thinking_shares_an_upstream_call_only_within_its_tenant(make_gateway, store_kind,
                                                                                  fake_upstream) -> None:
    """Signed thinking is only ever its tenant's: never stored for the route, and, as it arrives before anybody
    knows the answer holds it, never sent to another tenant's identical request waiting on the same call."""
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq")
    fake_upstream.latency = 0.5
    faq = {"x-route": "faq"}
    results = together([lambda: message(gateway, thinking=THINKING, headers=faq, key="sk-ant-client-one"),
                        lambda: message(gateway, thinking=THINKING, headers=faq, key="sk-ant-client-two"),
                        lambda: message(gateway, thinking=THINKING, headers=faq, key="sk-ant-client-two")])
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls(MESSAGES_PATH) == 2  # one per tenant: the second key's two requests shared theirs
    assert sorted(result[0] for result in results) == ["hit", "miss", "miss"]
    fake_upstream.reset()
    plain = together([lambda: message(gateway, "A plain question?", headers=faq, key="sk-ant-client-one"),
                      lambda: message(gateway, "A plain question?", headers=faq, key="sk-ant-client-two")])
    assert fake_upstream.calls(MESSAGES_PATH) == 1 and sorted(result[0] for result in plain) == ["hit", "miss"]
