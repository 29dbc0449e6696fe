"""Legacy text completions (`POST /v1/completions`) through the official OpenAI SDK against a served gateway, on
both stores: exact and semantic hits on the prompt, streamed misses stored and replayed in either mode, tenants and
APIs kept apart, what only an exact repeat may be served, upstream errors and broken streams never stored, bad
bodies refused in OpenAI's shape, and each request's event."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.clients import PARAPHRASE, PROMPT, UNRELATED, ask, client
from tests.support.events import events_of, served
from tests.support.fake_upstream import COMPLETIONS_PATH
from tests.support.flights import together

MODEL = "gpt-3.5-turbo-instruct"


def complete(gateway, prompt=PROMPT, *, key: str = "sk-client-one", headers: dict | None = None, **params):
    """One non-streamed completion; returns (x-cache state, headers, completion) after cache writes settled."""
    raw = client(gateway, key).completions.with_raw_response.create(model=params.pop("model", MODEL), prompt=prompt,
                                                                     extra_headers=headers, **params)
    gateway.drain()
    return raw.headers.get("x-cache"), raw.headers, raw.parse()


def stream(gateway, prompt=PROMPT, *, key: str = "sk-client-one", **params):
    """One streamed completion; returns (x-cache state, list of chunks) after cache writes settled."""
    with client(gateway, key).completions.with_streaming_response.create(
            model=MODEL, prompt=prompt, stream=True, **params) as raw:
        chunks = list(raw.parse())
        state = raw.headers.get("x-cache")
    gateway.drain()
    return state, chunks


def text_of(chunks, index: int = 0) -> str:
    return "".join(choice.text for chunk in chunks for choice in chunk.choices if choice.index == index)


def calls(fake_upstream) -> int:
    return fake_upstream.calls(COMPLETIONS_PATH)


def test_a_miss_then_an_exact_hit_without_an_upstream_call(gateway, fake_upstream) -> None:
    state, _, first = complete(gateway)
    assert state == "miss" and first.object == "text_completion" and first.choices[0].text.endswith(PROMPT)
    state, headers, second = complete(gateway, temperature=0.3, user="someone")  # neutral fields
    assert state == "hit" and headers["x-cache-layer"] == "exact"
    assert second.choices[0].text == first.choices[0].text and second.choices[0].finish_reason == "stop"
    assert second.id.startswith("cmpl-") and second.id != first.id and second.usage == first.usage
    assert complete(gateway, [PROMPT])[0] == "hit"  # one prompt spelt as a list is the same request
    assert calls(fake_upstream) == 1


def test_a_paraphrase_is_a_semantic_hit_and_another_question_a_miss(gateway, fake_upstream) -> None:
    _, _, first = complete(gateway)
    state, headers, second = complete(gateway, PARAPHRASE)
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    assert 0 < float(headers["x-cache-distance"]) <= gateway.settings.cache_distance_threshold
    assert second.choices[0].text == first.choices[0].text
    assert complete(gateway, UNRELATED)[0] == "miss"
    assert calls(fake_upstream) == 2


@pytest.mark.parametrize("change", [
    {"key": "sk-client-two"}, {"model": "davinci-002"}, {"headers": {"x-route": "support"}}, {"suffix": " Thanks!"},
    {"max_tokens": 5}, {"stop": ["?"]}, {"frequency_penalty": 2.0}, {"logit_bias": {"50256": -100}},
])
@pytest.mark.parametrize("prompt", [PROMPT, PARAPHRASE])
def test_another_tenant_or_scope_is_never_served(gateway, fake_upstream, change: dict, prompt: str) -> None:
    complete(gateway)
    state, headers, _ = complete(gateway, prompt, **change)
    assert state == "miss", headers
    assert calls(fake_upstream) == 2


def test_chat_and_legacy_completions_never_share_an_answer(gateway, fake_upstream) -> None:
    complete(gateway)
    assert ask(gateway, model=MODEL)[0] == "miss"
    assert complete(gateway, PARAPHRASE)[0] == "hit"
    assert ask(gateway, PARAPHRASE, model=MODEL)[0] == "hit"  # each found its own API's answer


def test_a_streamed_miss_is_stored_and_replayed_as_a_stream_and_as_json(gateway, fake_upstream) -> None:
    state, chunks = stream(gateway)
    assert state == "miss" and len(chunks) > 3 and all(chunk.usage is None for chunk in chunks)
    answer = text_of(chunks)
    assert answer.endswith(PROMPT)
    state, replay = stream(gateway, stream_options={"include_usage": True})
    assert state == "hit" and text_of(replay) == answer
    assert [c.choices[0].finish_reason for c in replay if c.choices][-1] == "stop"
    assert replay[-1].choices == [] and replay[-1].usage.completion_tokens > 0  # the usage the gateway asked for
    assert all(chunk.object == "text_completion" and chunk.id.startswith("cmpl-") for chunk in replay)
    state, _, whole = complete(gateway, PARAPHRASE)
    assert state == "hit" and whole.choices[0].text == answer and whole.usage.total_tokens > 0
    assert calls(fake_upstream) == 1


def test_a_json_miss_replays_as_a_stream(gateway, fake_upstream) -> None:
    _, _, whole = complete(gateway)
    state, chunks = stream(gateway, PARAPHRASE)
    assert state == "hit" and text_of(chunks) == whole.choices[0].text
    assert all(chunk.usage is None for chunk in chunks)  # not asked for


def test_identical_concurrent_misses_share_one_upstream_call(make_gateway, fake_upstream, store_kind) -> None:
    gateway = make_gateway(store_kind)
    fake_upstream.latency, fake_upstream.chunk_delay = 0.4, 0.05
    results = together([lambda: stream(gateway)] * 3 + [lambda: complete(gateway)] * 3)
    assert all(isinstance(result, tuple) for result in results), results
    streamed, whole = results[:3], results[3:]
    assert sorted(state for state, _ in streamed) == sorted(state for state, _, _ in whole) == ["hit", "hit", "miss"]
    assert len({text_of(chunks) for _, chunks in streamed}) == 1  # the leader's answer, as it arrived
    assert len({answer.choices[0].text for _, _, answer in whole}) == 1
    assert calls(fake_upstream) == 2  # one flight a mode: a stream and JSON are sent different bytes


def test_several_choices_bypass_the_cache(gateway, fake_upstream) -> None:
    for _ in range(2):
        state, _, answer = complete(gateway, n=2)
        assert state == "bypass" and len(answer.choices) == 2
    assert calls(fake_upstream) == 2


@pytest.mark.parametrize("params", [{"echo": True}, {"logprobs": 1}])
def test_an_answer_bound_to_its_prompt_is_served_to_that_prompt_only(gateway, fake_upstream, params: dict) -> None:
    _, _, first = complete(gateway, **params)
    state, headers, again = complete(gateway, **params)
    assert state == "hit" and headers["x-cache-layer"] == "exact" and again.choices[0] == first.choices[0]
    assert complete(gateway, PARAPHRASE, **params)[0] == "miss"  # it would restate, or count from, another prompt


def test_a_batch_of_prompts_is_served_whole_to_an_exact_repeat(gateway, fake_upstream) -> None:
    batch = [PROMPT, UNRELATED]
    _, _, first = complete(gateway, batch)
    assert [choice.index for choice in first.choices] == [0, 1]
    state, chunks = stream(gateway, batch)
    assert state == "hit" and [text_of(chunks, 0), text_of(chunks, 1)] == [c.text for c in first.choices]
    assert complete(gateway, [PARAPHRASE, UNRELATED])[0] == "miss"
    assert complete(gateway, [[1, 2, 3]])[0] == "miss" and complete(gateway, [[1, 2, 3]])[0] == "hit"


@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError),
                                                (400, openai.BadRequestError)])
def test_upstream_errors_pass_through_and_are_never_cached(gateway, fake_upstream, status: int, error) -> None:
    fake_upstream.fail_next(status, path=COMPLETIONS_PATH)
    with pytest.raises(error) as caught:
        complete(gateway)
    assert caught.value.status_code == status
    assert complete(gateway)[0] == "miss"  # the error was not stored
    assert complete(gateway)[0] == "hit"


def test_a_streamed_error_or_a_broken_stream_is_never_cached(gateway, fake_upstream) -> None:
    fake_upstream.fail_next(429, path=COMPLETIONS_PATH)
    with pytest.raises(openai.RateLimitError):
        stream(gateway)
    fake_upstream.break_stream_next(after_events=3, path=COMPLETIONS_PATH)
    with pytest.raises(openai.APIError):
        stream(gateway)
    assert stream(gateway)[0] == "miss"
    assert stream(gateway)[0] == "hit"


def test_an_upstream_refusal_of_an_odd_prompt_is_relayed_not_stored(gateway, fake_upstream) -> None:
    for _ in range(2):  # a mixed array is the upstream's to judge, every time
        with pytest.raises(openai.BadRequestError) as caught:
            complete(gateway, ["a question", 42])
        assert caught.value.body["param"] == "prompt"
    assert calls(fake_upstream) == 2


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    (b'{"prompt": "x"}', "model"),
    (b'{"model": "m"}', "prompt"),
    (b'{"model": "m", "prompt": 5}', "prompt"),
    (b'{"model": "m", "prompt": "x", "echo": "yes"}', "echo"),
    (b'{"model": "m", "prompt": "x", "n": "2"}', "n"),
    (b'{"model": "m", "prompt": "x", "stream": "true"}', "stream"),
])
def test_bad_bodies_are_openai_shaped_400s(gateway, fake_upstream, body: bytes, param) -> None:
    response = httpx.post(f"{gateway.base_url}/completions", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    assert error["type"] == "invalid_request_error" and calls(fake_upstream) == 0


def test_the_sdk_raises_bad_request_for_a_prompt_it_cannot_send(gateway, fake_upstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        complete(gateway, [])
    assert caught.value.body["param"] == "prompt" and calls(fake_upstream) == 0


def test_each_request_is_one_completions_event(make_gateway, fake_upstream, store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    complete(gateway)
    complete(gateway, PARAPHRASE)
    stream(gateway)
    assert [(e.event, e.outcome, e.layer, e.stream) for e in events_of(gateway)] == [
        ("completions", "miss", None, False), ("completions", "hit", "semantic", False),
        ("completions", "hit", "exact", True)]
    assert all(e.model == MODEL and e.prompt_tokens > 0 and e.completion_tokens > 0 for e in events_of(gateway))
