"""Canonical request hashing, on tables of requests that must and must not share a key."""

from __future__ import annotations

import pytest

from gateway.errors import Uncacheable
from gateway.wire.canonical import MAX_SEMANTIC_PROMPT_CHARS, answered_by, chat_key, embedding_keys
from gateway.wire.embeddings import inputs_of

SYSTEM = {"role": "system", "content": "You are terse."}
ASK = {"role": "user", "content": "What is Redis?"}


def key(body: dict, *, model: str = "gpt-4o-mini", route: str = "default", tenant: str = "t1"):
    return chat_key(body, model=model, route=route, tenant=tenant)


def test_prompt_is_the_final_user_text_and_context_excludes_it() -> None:
    a = key({"messages": [SYSTEM, ASK]})
    b = key({"messages": [SYSTEM, {"role": "user", "content": "Explain Redis"}]})
    assert a.prompt == "What is Redis?"
    assert a.context == b.context  # same scope: a paraphrase can be a semantic hit
    assert a.exact != b.exact


SAME_EXACT = [
    # text parts and a plain string are the same message
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "What is Redis?"}]}]},
     {"messages": [ASK]}),
    # sampling parameters, stream flags and metadata do not change which answer is right
    ({"messages": [ASK], "temperature": 0.2, "stream": True, "user": "u1", "seed": 4},
     {"messages": [ASK]}),
    # key order and explicit nulls do not matter
    ({"messages": [{"content": "What is Redis?", "role": "user", "name": None}], "tools": None},
     {"messages": [ASK]}),
]


@pytest.mark.parametrize(("left", "right"), SAME_EXACT)
def test_equivalent_requests_share_the_exact_key(left: dict, right: dict) -> None:
    assert key(left).exact == key(right).exact


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
DIFFERENT_CONTEXT = [
    {"messages": [{"role": "system", "content": "You are verbose."}, ASK]},
    {"messages": [ASK]},  # no system prompt at all
    {"messages": [SYSTEM, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, ASK]},
    {"messages": [SYSTEM, ASK], "tools": [TOOL]},
    {"messages": [SYSTEM, ASK], "tools": [TOOL], "tool_choice": "required"},
    {"messages": [SYSTEM, ASK], "response_format": {"type": "json_object"}},
    {"messages": [SYSTEM, ASK], "max_tokens": 5},
    {"messages": [SYSTEM, ASK], "some_future_parameter": True},
    {"messages": [SYSTEM, ASK], "frequency_penalty": 2.0},  # degenerate text is not everyone's answer
    {"messages": [SYSTEM, ASK], "presence_penalty": -2.0},
]


@pytest.mark.parametrize("other", DIFFERENT_CONTEXT)
def test_anything_else_in_scope_changes_the_context(other: dict) -> None:
    assert key(other).context != key({"messages": [SYSTEM, ASK]}).context


@pytest.mark.parametrize("change", [{"model": "gpt-4o"}, {"route": "support"}, {"tenant": "t2"}])
def test_model_route_and_tenant_partition_the_cache(change: dict) -> None:
    base = key({"messages": [ASK]})
    other = key({"messages": [ASK]}, **change)
    assert other.context != base.context and other.exact != base.exact


EXACT_ONLY = [
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                               {"type": "image_url", "image_url": {"url": "data:,"}}]}]},
    {"messages": [ASK, {"role": "assistant", "content": None, "tool_calls": []},
                  {"role": "tool", "tool_call_id": "c1", "content": "42"}]},
    {"messages": [{"role": "user", "content": "hi", "name": "alice"}]},
]


@pytest.mark.parametrize("body", EXACT_ONLY)
def test_requests_a_paraphrase_cannot_stand_for_are_exact_only(body: dict) -> None:
    assert key(body).prompt is None


@pytest.mark.parametrize("body", [{"messages": [ASK], "n": 2}, {"messages": [ASK], "modalities": ["audio"]}])
def test_requests_the_cache_cannot_serve_are_uncacheable(body: dict) -> None:
    with pytest.raises(Uncacheable):
        key(body)


@pytest.mark.parametrize(("left", "right", "same"), [
    ({"model": "m", "input": "a"}, {"model": "m", "input": "a", "encoding_format": "float"}, True),
    ({"model": "m", "input": "a"}, {"model": "m", "input": "a", "user": "x"}, True),
    ({"model": "m", "input": "a"}, {"model": "m", "input": ["a"]}, True),  # one input, one vector
    ({"model": "m", "input": "a"}, {"model": "m", "input": "a", "dimensions": 8}, False),
    ({"model": "m", "input": "a"}, {"model": "m", "input": "a", "encoding_format": "base64"}, False),
    ({"model": "m", "input": "a"}, {"model": "n", "input": "a"}, False),
    # compatible APIs honour fields OpenAI has not: each may change the vectors
    ({"model": "m", "input": "a", "input_type": "query"}, {"model": "m", "input": "a", "input_type": "document"},
     False),
    ({"model": "m", "input": "a"}, {"model": "m", "input": "a", "truncate_prompt_tokens": 4}, False),
    ({"model": "m", "input": "a", "normalize": None}, {"model": "m", "input": "a"}, True),
])
def test_embedding_keys(left: dict, right: dict, same: bool) -> None:
    def input_key(body: dict, tenant: str = "t") -> str:
        [only] = embedding_keys(body, inputs_of(body["input"]) or [], tenant=tenant)
        return only

    assert (input_key(left) == input_key(right)) is same
    assert input_key(left) != input_key(left, tenant="u")


def test_an_input_has_one_key_whichever_batch_it_came_in() -> None:
    body = {"model": "m", "input": ["a", "b"], "dimensions": 8}
    first = embedding_keys(body, ["a", "b"], tenant="t")
    assert embedding_keys({**body, "input": ["b", "c", "a"]}, ["b", "c", "a"], tenant="t") == [
        first[1], embedding_keys(body, ["c"], tenant="t")[0], first[0]]
    assert len(set(first)) == 2 and embedding_keys(body, [[1, 2]], tenant="t") != embedding_keys(
        body, ["[1, 2]"], tenant="t")


def test_a_huge_final_message_is_matched_exactly_only() -> None:
    """A prompt kept for comparison costs every write and lookup its size: past the cap it is not kept."""
    at_cap = "what " * (MAX_SEMANTIC_PROMPT_CHARS // 5)
    assert key({"messages": [{"role": "user", "content": at_cap}]}).prompt == at_cap
    over = key({"messages": [{"role": "user", "content": at_cap + "more"}]})
    assert over.prompt is None and over.exact != key({"messages": [{"role": "user", "content": at_cap}]}).exact


def test_one_model_name_at_two_providers_is_two_models() -> None:
    plain = key({"messages": [ASK]})
    at_local, at_groq = answered_by(plain, "local"), answered_by(plain, "groq")
    assert len({plain.exact, at_local.exact, at_groq.exact}) == 3
    assert len({plain.context, at_local.context, at_groq.context}) == 3
    assert at_local.prompt == plain.prompt and answered_by(plain, "local") == at_local
    inputs = ["a"]
    assert embedding_keys({"model": "m"}, inputs, tenant="t") != embedding_keys({"model": "m"}, inputs, tenant="t",
                                                                               provider="local")


def test_a_conversation_is_the_same_whatever_its_next_turn_asks_and_in_which_language() -> None:
    """Prefetch learns next turns under it, and looks them up before the next turn is known."""
    history = [SYSTEM, ASK, {"role": "assistant", "content": "A database."}]
    asks = ["And is it fast?", "Und ist sie schnell?", "?", "x" * (MAX_SEMANTIC_PROMPT_CHARS + 1)]
    keys = [key({"messages": [*history, {"role": "user", "content": text}]}) for text in asks]
    assert len({k.conversation for k in keys}) == 1 and len({k.context for k in keys}) > 1
    assert keys[0].conversation != key({"messages": [*history, {"role": "user", "content": asks[0]}]},
                                       tenant="t2").conversation
    assert keys[0].conversation != key({"messages": [ASK, {"role": "user", "content": asks[0]}]}).conversation
    assert answered_by(keys[0], "local").conversation != keys[0].conversation


def test_a_conversation_is_the_same_whatever_the_model_answered_in_it() -> None:
    """An upstream words an answer anew after each expiry: what users asked next after one wording is what they ask
    after the next. What users said is the conversation, and so are the turns the model answered in."""
    def conversation(answer: str, asked: str = "What is Redis?", turns: int = 1) -> str:
        history = [SYSTEM, *[{"role": "user", "content": asked}, {"role": "assistant", "content": answer}] * turns]
        return key({"messages": [*history, {"role": "user", "content": "And is it fast?"}]}).conversation

    assert conversation("A database.") == conversation("An in-memory store.")
    assert conversation("A database.") != conversation("A database.", asked="What is Postgres?")
    assert conversation("A database.") != conversation("A database.", turns=2)
