"""The chat cache through the official OpenAI SDK against a served gateway, on both stores: hits and
misses, every scope rule, TTL, stream <-> non-stream replay, tool calls and the control headers."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, TOOLS, UNRELATED, ask, client, stream, text_of


def test_exact_repeat_is_a_hit_without_an_upstream_call(gateway, fake_upstream) -> None:
    state, _, first = ask(gateway)
    assert state == "miss"
    state, headers, second = ask(gateway, temperature=0.3)  # sampling parameters are not in scope
    assert state == "hit" and headers["x-cache-layer"] == "exact" and "x-cache-distance" not in headers
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.id != first.id and second.usage == first.usage
    assert fake_upstream.calls() == 1


def test_paraphrase_is_a_semantic_hit_and_a_different_question_is_a_miss(gateway, fake_upstream) -> None:
    _, _, first = ask(gateway)
    state, headers, second = ask(gateway, PARAPHRASE)
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    assert 0 < float(headers["x-cache-distance"]) <= gateway.settings.cache_distance_threshold
    assert second.choices[0].message.content == first.choices[0].message.content
    assert ask(gateway, UNRELATED)[0] == "miss"
    assert fake_upstream.calls() == 2


@pytest.mark.parametrize("change", [
    {"model": "gpt-4o"},
    {"key": "sk-client-two"},
    {"headers": {"x-route": "support"}},
    {"history": [{"role": "system", "content": "Answer in French."}]},
    {"history": [{"role": "user", "content": "I use Gmail."}, {"role": "assistant", "content": "OK."}]},
    {"tools": [{"type": "function", "function": {"name": "kb", "parameters": {"type": "object"}}}]},
    {"response_format": {"type": "json_object"}},
])
@pytest.mark.parametrize("prompt", [PROMPT, PARAPHRASE])
def test_a_different_scope_never_hits(gateway, fake_upstream, change: dict, prompt: str) -> None:
    ask(gateway)
    state, headers, _ = ask(gateway, prompt, **change)
    assert state == "miss", headers
    assert fake_upstream.calls() == 2


def test_a_shared_route_is_shared_by_every_key(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq")
    ask(gateway, key="sk-one", headers={"x-route": "faq"})
    assert ask(gateway, PARAPHRASE, key="sk-two", headers={"x-route": "faq"})[0] == "hit"
    assert ask(gateway, key="sk-two")[0] == "miss"  # the default route stays per key


def test_n_above_one_bypasses_the_cache(gateway, fake_upstream) -> None:
    assert ask(gateway, n=2)[0] == "bypass"
    assert ask(gateway, n=2)[0] == "bypass"
    assert fake_upstream.calls() == 2


def test_an_expired_answer_is_a_miss_and_the_refill_uses_the_same_entry(gateway, fake_upstream) -> None:
    ask(gateway, headers={"x-cache-ttl": "1"})
    state, headers, _ = ask(gateway)  # a hit renews the answer for its own 1 s, not the default TTL
    assert state == "hit"
    entry = headers["x-cache-key"]
    time.sleep(1.3)
    assert ask(gateway, PARAPHRASE, headers={"cache-control": "no-store"})[0] == "miss"  # expired: no hit
    assert ask(gateway)[0] == "miss"  # refills the answer on the original entry
    state, headers, _ = ask(gateway)
    assert state == "hit" and headers["x-cache-key"] == entry
    assert fake_upstream.calls() == 3


def test_fixed_lifetime_when_sliding_is_off(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, RESP_TTL_SLIDING="false", RESP_TTL_SECS="2")
    ask(gateway)
    time.sleep(1.2)
    assert ask(gateway)[0] == "hit"  # would renew a sliding TTL to 2 s from here
    time.sleep(1.2)
    assert ask(gateway)[0] == "miss"


def test_sliding_ttl_keeps_a_popular_answer(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, RESP_TTL_SECS="2")
    ask(gateway)
    for _ in range(3):
        time.sleep(0.8)
        assert ask(gateway)[0] == "hit"


def test_stream_miss_then_stream_and_json_hits(gateway, fake_upstream) -> None:
    state, chunks = stream(gateway)
    assert state == "miss" and len(chunks) > 3
    answer = text_of(chunks)
    assert all(chunk.usage is None for chunk in chunks)  # usage the gateway asked for is not shown
    state, replay = stream(gateway, stream_options={"include_usage": True})
    assert state == "hit" and text_of(replay) == answer
    assert replay[-1].choices == [] and replay[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in replay if c.choices][-1] == "stop"
    state, _, whole = ask(gateway)
    assert state == "hit" and whole.choices[0].message.content == answer
    assert fake_upstream.calls() == 1


def test_json_miss_replays_as_a_stream(gateway, fake_upstream) -> None:
    _, _, whole = ask(gateway)
    state, chunks = stream(gateway, PARAPHRASE)
    assert state == "hit" and text_of(chunks) == whole.choices[0].message.content
    assert all(chunk.usage is None for chunk in chunks)  # not asked for


def test_tool_calls_are_cached_and_replayed_in_both_modes(gateway, fake_upstream) -> None:
    with client(gateway).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], tools=TOOLS, stream=True) as raw:
        assert raw.headers["x-cache"] == "miss"
        list(raw.parse())
    gateway.drain()
    state, _, whole = ask(gateway, tools=TOOLS)
    assert state == "hit"
    call = whole.choices[0].message.tool_calls[0]
    assert call.function.name == "search_kb" and '"q"' in call.function.arguments
    assert whole.choices[0].finish_reason == "tool_calls"
    state, chunks = stream(gateway, tools=TOOLS)
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                        for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    assert state == "hit" and arguments == call.function.arguments


def test_no_cache_skips_the_lookup_but_stores(gateway, fake_upstream) -> None:
    ask(gateway)
    state, _, fresh = ask(gateway, headers={"cache-control": "no-cache"})
    assert state == "miss" and fake_upstream.calls() == 2
    assert ask(gateway)[2].choices[0].message.content == fresh.choices[0].message.content


def test_no_store_never_stores(gateway, fake_upstream) -> None:
    assert ask(gateway, headers={"cache-control": "no-store"})[0] == "miss"
    assert ask(gateway)[0] == "miss"
    assert fake_upstream.calls() == 2


def test_threshold_header_tightens_or_loosens_one_request(gateway, fake_upstream) -> None:
    ask(gateway)
    assert ask(gateway, PARAPHRASE, headers={"x-cache-threshold": "0"})[0] == "miss"
    ask(gateway, "Tell me a joke about cats")
    assert ask(gateway, "Tell me a funny story about kittens")[0] == "miss"
    assert ask(gateway, "Tell me a funny story about kittens", headers={"x-cache-threshold": "1.0"})[0] == "hit"


@pytest.mark.parametrize("headers", [{"x-cache-ttl": "-5"}, {"x-cache-threshold": "abc"}, {"x-route": "a b"}])
def test_bad_control_headers_are_400(gateway, fake_upstream, headers: dict) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(gateway, headers=headers)
    assert caught.value.body["param"] in headers
    assert fake_upstream.calls() == 0


def test_miss_delay_applies_to_misses_only(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", MISS_DELAY_MS="400")
    started = time.perf_counter()
    ask(gateway)
    miss_seconds = time.perf_counter() - started
    started = time.perf_counter()
    assert ask(gateway)[0] == "hit"
    hit_seconds = time.perf_counter() - started
    assert miss_seconds >= 0.4 > hit_seconds


def test_the_model_defaults_to_gen_model(make_gateway, fake_upstream) -> None:
    import httpx

    gateway = make_gateway("memory", GEN_MODEL="gpt-default-test")
    response = httpx.post(f"{gateway.base_url}/chat/completions",
                          json={"messages": [{"role": "user", "content": PROMPT}]})
    assert response.status_code == 200 and fake_upstream.last().json["model"] == "gpt-default-test"
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


async def test_async_client_stream_and_non_stream(gateway, fake_upstream) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="sk-async", max_retries=0) as aclient:
        messages = [{"role": "user", "content": PROMPT}]
        first = await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages)
        await gateway_drain(gateway)
        replay = await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in replay if chunk.choices])
    assert text == first.choices[0].message.content and fake_upstream.calls() == 1


async def gateway_drain(gateway) -> None:
    import asyncio

    await asyncio.to_thread(gateway.drain)


def test_a_streamed_miss_is_relayed_as_it_arrives_not_buffered(gateway, fake_upstream) -> None:
    fake_upstream.chunk_delay = 0.15  # the fake streams ~12 events: about 2 s in all
    with client(gateway).chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True) as raw:
        started = time.perf_counter()
        arrivals = [time.perf_counter() - started for chunk in raw.parse() if chunk.choices]
    assert len(arrivals) >= 8
    assert arrivals[1] < 0.6 < arrivals[-1]  # the first words came long before the last
