"""The Responses API through the official OpenAI SDK against a served gateway, on both stores: hits and misses,
streamed both ways, tools, what bypasses, and chaining from the ids the gateway issues for cached answers."""

from __future__ import annotations

import asyncio

import openai
import pytest
from pydantic import BaseModel

from gateway.wire.responses_api import remembered_issuable
from tests.support.clients import PARAPHRASE, PROMPT, UNRELATED, client
from tests.support.events import events_of, served
from tests.support.flights import together

RESPONSES = "/v1/responses"
TOOL = {"type": "function", "name": "search_kb", "description": "Search the knowledge base.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}


def create(gateway, prompt=PROMPT, *, key: str = "sk-client-one", headers: dict | None = None, **params):
    """One non-streamed call; returns (x-cache state, headers, response) after cache writes settled."""
    raw = client(gateway, key).responses.with_raw_response.create(
        model="gpt-4.1-mini", input=prompt, extra_headers=headers, **params)
    gateway.drain()
    return raw.headers.get("x-cache"), raw.headers, raw.parse()


def streamed(gateway, prompt=PROMPT, *, key: str = "sk-client-one", **params):
    """One streamed call; returns (x-cache state, events)."""
    with client(gateway, key).responses.with_streaming_response.create(
            model="gpt-4.1-mini", input=prompt, stream=True, **params) as raw:
        events = list(raw.parse())
        state = raw.headers.get("x-cache")
    gateway.drain()
    return state, events


def test_exact_and_semantic_hits_are_served_under_fresh_ids(gateway, fake_upstream) -> None:
    state, _, first = create(gateway)
    assert state == "miss" and first.output_text
    state, headers, again = create(gateway, temperature=0.4, metadata={"run": "2"})
    assert state == "hit" and headers["x-cache-layer"] == "exact"
    assert again.output_text == first.output_text and again.id != first.id and again.usage == first.usage
    assert again.metadata == {"run": "2"} and again.temperature == 0.4  # what this request asked
    state, headers, paraphrased = create(gateway, PARAPHRASE)
    assert state == "hit" and headers["x-cache-layer"] == "semantic" and paraphrased.output_text == first.output_text
    assert create(gateway, UNRELATED)[0] == "miss"
    assert create(gateway, instructions="Answer in French.")[0] == "miss"
    assert create(gateway, key="sk-client-two")[0] == "miss"
    assert fake_upstream.calls(RESPONSES) == 4


def test_one_answer_served_to_one_request_again_is_issued_from_what_was_built_once(gateway) -> None:
    """The stored answer's bytes reach the wire format with the hit, which builds what serving it keeps once."""
    create(gateway)
    remembered_issuable.cache_clear()
    hits = [create(gateway) for _ in range(3)]
    assert [state for state, _, _ in hits] == ["hit"] * 3 and len({response.id for _, _, response in hits}) == 3
    assert remembered_issuable.cache_info()[:2] == (2, 1)  # hits, misses


def test_chat_and_responses_never_serve_each_other(gateway, fake_upstream) -> None:
    client(gateway).chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": PROMPT}])
    gateway.drain()
    assert create(gateway)[0] == "miss"


def _kinds(events) -> list[str]:
    return [event.type for event in events]


def test_a_streamed_miss_is_kept_and_replayed_whichever_way_it_came(gateway, fake_upstream) -> None:
    state, events = streamed(gateway)
    assert state == "miss" and _kinds(events)[-1] == "response.completed"
    text = events[-1].response.output_text
    state, replay = streamed(gateway)
    assert state == "hit" and _kinds(replay)[:2] == ["response.created", "response.in_progress"]
    assert [event.sequence_number for event in replay] == list(range(len(replay)))
    assert "".join(event.delta for event in replay if event.type == "response.output_text.delta") == text
    assert replay[-1].response.output_text == text and replay[-1].response.id != events[-1].response.id
    _, _, whole = create(gateway)  # kept from a stream, served as JSON
    assert whole.output_text == text
    create(gateway, UNRELATED)
    with client(gateway).responses.stream(model="gpt-4.1-mini", input=UNRELATED) as stream:  # kept whole, streamed
        final = stream.get_final_response()
    assert final.output_text == create(gateway, UNRELATED)[2].output_text
    assert fake_upstream.calls(RESPONSES) == 2


def test_function_calls_are_kept_and_replayed_with_argument_deltas(gateway, fake_upstream) -> None:
    _, _, first = create(gateway, tools=[TOOL])
    call = next(item for item in first.output if item.type == "function_call")
    state, events = streamed(gateway, tools=[TOOL])
    assert state == "hit"
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert arguments == call.arguments and "response.function_call_arguments.done" in _kinds(events)
    replayed = next(item for item in events[-1].response.output if item.type == "function_call")
    assert (replayed.name, replayed.call_id) == (call.name, call.call_id)
    assert fake_upstream.calls(RESPONSES) == 1


def test_a_follow_up_of_a_cached_answer_carries_its_conversation(gateway, fake_upstream) -> None:
    create(gateway, store=False)  # the upstream keeps nothing of it
    _, _, hit = create(gateway)
    state, _, follow = create(gateway, "And if I forgot my email too?", previous_response_id=hit.id)
    assert state == "miss" and follow.output_text
    sent = fake_upstream.last(RESPONSES).json
    assert "previous_response_id" not in sent
    assert sent["input"][0]["content"] == PROMPT and sent["input"][1] == {"role": "assistant",
                                                                          "content": hit.output_text}
    assert sent["input"][-1]["content"] == "And if I forgot my email too?"
    # ... and is cached like any other request: the same follow-up of the same answer is a hit
    assert create(gateway, "And if I forgot my email too?", previous_response_id=hit.id)[0] == "hit"


def test_a_follow_up_of_another_keys_entry_on_a_shared_route(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq")
    faq = {"x-route": "faq"}
    create(gateway, key="sk-one", headers=faq, store=False)
    state, _, hit = create(gateway, PARAPHRASE, key="sk-two", headers=faq)
    assert state == "hit"
    state, _, follow = create(gateway, "Thanks, and then?", key="sk-two", headers=faq, previous_response_id=hit.id)
    assert state == "miss" and follow.output_text
    assert fake_upstream.last(RESPONSES).json["input"][0]["content"] == PARAPHRASE
    # the id is its caller's alone: another key naming it is the upstream's business (which never saw it)
    with pytest.raises(openai.NotFoundError):
        client(gateway, "sk-one").responses.retrieve(hit.id)
    with pytest.raises(openai.BadRequestError):  # as OpenAI answers an id it does not know
        create(gateway, "Thanks, and then?", key="sk-one", headers=faq, previous_response_id=hit.id)


def test_retrieving_what_the_gateway_served(gateway, fake_upstream) -> None:
    _, _, miss = create(gateway, [{"role": "user", "content": "Hi"}, {"role": "user", "content": PROMPT}])
    _, _, hit = create(gateway, [{"role": "user", "content": "Hi"}, {"role": "user", "content": PROMPT}])
    retrieved = client(gateway).responses.retrieve(hit.id)
    assert retrieved.id == hit.id and retrieved.output_text == hit.output_text
    items = client(gateway).responses.input_items.list(hit.id)
    assert [item.content[0].text if isinstance(item.content, list) else item.content
            for item in items.data] == [PROMPT, "Hi"]
    assert client(gateway).responses.retrieve(miss.id).id == miss.id  # the upstream's own id: forwarded
    deleted = client(gateway).responses.with_raw_response.delete(hit.id)  # the SDK returns None: read the answer
    assert deleted.http_response.json() == {"id": hit.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        client(gateway).responses.retrieve(hit.id)
    kept_nothing = create(gateway, store=False)[2]  # a hit the client asked not to be stored
    with pytest.raises(openai.NotFoundError):
        client(gateway).responses.retrieve(kept_nothing.id)


@pytest.mark.parametrize("params", [
    {"background": True},
    {"tools": [{"type": "web_search"}]},
    {"conversation": "conv_123"},
])
def test_what_the_cache_must_not_serve_bypasses_it(gateway, fake_upstream, params: dict) -> None:
    assert create(gateway, **params)[0] == "bypass"
    assert create(gateway, **params)[0] == "bypass"
    assert fake_upstream.calls(RESPONSES) == 2


def test_a_route_may_cache_hosted_tools(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", HOSTED_TOOL_ROUTES="news")
    create(gateway, tools=[{"type": "web_search"}], headers={"x-route": "news"})
    assert create(gateway, tools=[{"type": "web_search"}], headers={"x-route": "news"})[0] == "hit"


def test_upstream_errors_pass_through_and_are_never_kept(gateway, fake_upstream) -> None:
    fake_upstream.fail_next(429, path=RESPONSES)
    with pytest.raises(openai.RateLimitError):
        create(gateway)
    assert create(gateway)[0] == "miss"
    with pytest.raises(openai.BadRequestError) as refused:
        client(gateway).responses.create(model="gpt-4.1-mini", input=3)  # type: ignore[arg-type]
    assert refused.value.body["param"] == "input"


def test_a_broken_stream_is_never_kept(gateway, fake_upstream) -> None:
    fake_upstream.break_stream_next(after_events=3, path=RESPONSES)
    state, events = streamed(gateway)
    assert state == "miss" and events[-1].type == "error" and "broke off" in events[-1].message
    fake_upstream.fail_response_next(after_events=4)
    assert streamed(gateway)[1][-1].type == "response.failed"
    assert streamed(gateway)[0] == "miss"
    assert fake_upstream.calls(RESPONSES) == 3


def test_structured_output_through_parse(gateway, fake_upstream) -> None:
    class Answer(BaseModel):
        answer: str

    parse = client(gateway).responses.parse
    first = parse(model="gpt-4.1-mini", input=PROMPT, text_format=Answer)
    gateway.drain()
    again = client(gateway).responses.with_raw_response.parse(model="gpt-4.1-mini", input=PROMPT, text_format=Answer)
    assert again.headers["x-cache"] == "hit" and again.parse().output_parsed == first.output_parsed


def test_responses_have_their_own_event(make_gateway, fake_upstream) -> None:
    gateway = served(make_gateway, "redis")
    create(gateway)
    create(gateway)
    assert [(event.event, event.outcome) for event in events_of(gateway)] == [("responses", "miss"),
                                                                               ("responses", "hit")]


def test_the_async_client_hits_too(gateway, fake_upstream) -> None:
    async def twice() -> list[str | None]:
        async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="sk-client-one", max_retries=0) as aclient:
            states = []
            for _ in range(2):
                raw = await aclient.responses.with_raw_response.create(model="gpt-4.1-mini", input=PROMPT)
                states.append(raw.headers.get("x-cache"))
                await asyncio.sleep(0.2)  # the first answer is stored after it is sent
            return states

    assert asyncio.run(twice()) == ["miss", "hit"]


def test_a_gateway_key_reads_its_own_cached_answers_only(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice,gw-bob", OPENAI_API_KEY="sk-server")
    _, _, miss = create(gateway, key="gw-alice")
    _, _, hit = create(gateway, key="gw-alice")
    assert client(gateway, "gw-alice").responses.retrieve(hit.id).output_text == hit.output_text
    with pytest.raises(openai.PermissionDeniedError):  # the upstream account's, shared by every gateway key
        client(gateway, "gw-alice").responses.retrieve(miss.id)
    with pytest.raises(openai.PermissionDeniedError):  # bob never was served it: to him it is the account's
        client(gateway, "gw-bob").responses.retrieve(hit.id)
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway, "gw-bob").responses.delete(hit.id)
    client(gateway, "gw-alice").responses.delete(hit.id)


@pytest.mark.parametrize("stream", [False, True])
def test_identical_concurrent_requests_share_one_call_and_each_gets_its_own_response(
        make_gateway, fake_upstream, stream: bool) -> None:
    gateway = make_gateway("memory", SHARED_ROUTES="faq")
    fake_upstream.latency = 0.5
    faq = {"x-route": "faq"}

    def one(key: str, who: str):
        def go():
            if stream:
                state, events = streamed(gateway, key=key, extra_headers=faq, metadata={"who": who})
                return state, events[-1].response
            state, _, response = create(gateway, key=key, headers=faq, metadata={"who": who})
            return state, response
        return go

    results = together([one("sk-alice", "alice"), one("sk-bob", "bob"), one("sk-carol", "carol")])
    assert fake_upstream.calls(RESPONSES) == 1 and sorted(state for state, _ in results) == ["hit", "hit", "miss"]
    responses = [response for _, response in results]
    assert len({response.id for response in responses}) == 3
    assert len({response.output_text for response in responses}) == 1
    assert sorted(response.metadata["who"] for response in responses) == ["alice", "bob", "carol"]
    for (state, response), key in zip(results, ("sk-alice", "sk-bob", "sk-carol"), strict=True):
        if state == "hit":  # each follower can go on from the id it was given, as its own
            assert create(gateway, "Thanks!", key=key, headers=faq, previous_response_id=response.id)[2].output_text
            assert fake_upstream.last(RESPONSES).json["input"][0]["content"] == PROMPT


def test_on_a_shared_route_encrypted_reasoning_shares_an_upstream_call_only_within_its_tenant(
        make_gateway, store_kind, fake_upstream) -> None:
    """Asked for encrypted reasoning, the answer is readable by its tenant's account only: another tenant's identical
    request does not follow its upstream call (what arrives is sent before anybody knows it holds any)."""
    gateway = make_gateway(store_kind, SHARED_ROUTES="faq")
    fake_upstream.latency = 0.5
    faq = {"x-route": "faq"}
    private = {"include": ["reasoning.encrypted_content"], "store": False}
    results = together([lambda: create(gateway, key="sk-alice", headers=faq, **private),
                        lambda: create(gateway, key="sk-bob", headers=faq, **private)])
    assert all(isinstance(result, tuple) for result in results), results
    assert fake_upstream.calls(RESPONSES) == 2 and [result[0] for result in results] == ["miss", "miss"]


def test_a_hit_not_for_the_cache_is_still_one_to_go_on_from(gateway, fake_upstream) -> None:
    create(gateway)
    state, _, hit = create(gateway, headers={"cache-control": "no-store"})
    assert state == "hit"
    assert create(gateway, "And then?", previous_response_id=hit.id)[2].output_text
    assert "previous_response_id" not in fake_upstream.last(RESPONSES).json
