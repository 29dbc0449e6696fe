"""The original design's `/chat` interface as a pure wire format: which bodies it takes (as what chat request), and
its answer's shape for each way a request can end."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.wire.seed_chat import read_seed_chat, seed_answer

MESSAGES = [{"role": "user", "content": "Explain the features of GPT5."}]


@pytest.mark.parametrize(("body", "headers", "model", "route", "sent"), [
    ({"messages": MESSAGES}, {}, "default-model", "default", {"messages": MESSAGES}),
    ({"user": "u1", "model": "gpt_5", "route": "faq", "messages": MESSAGES}, {}, "gpt_5", "faq",
     {"model": "gpt_5", "messages": MESSAGES, "user": "u1"}),
    ({"route": "faq", "messages": MESSAGES}, {"x-route": "other"}, "default-model", "faq", {"messages": MESSAGES}),
    ({"messages": MESSAGES}, {"x-route": "other"}, "default-model", "other", {"messages": MESSAGES}),
    ({"route": " ", "messages": MESSAGES, "user": None}, {}, "default-model", "default", {"messages": MESSAGES}),
    ({"route": "faq", "messages": MESSAGES}, {"x-route": "not a route"}, "default-model", "faq",
     {"messages": MESSAGES}),  # the body's route stands for the header, which is not read
])
def test_a_body_it_takes_is_a_chat_request(body, headers, model, route, sent) -> None:
    chat = read_seed_chat(body, headers, default_model="default-model")
    assert (chat.model, chat.controls.route, chat.body, chat.stream, chat.client_usage) == (
        model, route, sent, False, False)


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": MESSAGES, "stream": True}, "stream"),
    ({"messages": MESSAGES, "temperature": 0}, "temperature"),
    ({"messages": MESSAGES, "route": "a b"}, "route"),
    ({"messages": MESSAGES, "route": "r" * 65}, "route"),
    ({"messages": MESSAGES, "user": 1}, "user"),
    ({"messages": MESSAGES, "model": ""}, "model"),
    ({}, "messages"),
    ({"messages": []}, "messages"),
])
def test_a_body_it_does_not_take_names_the_field(body, param) -> None:
    with pytest.raises(InvalidRequest) as caught:
        read_seed_chat(body, {}, default_model="m")
    assert caught.value.param == param and caught.value.status == 400


COMPLETION = {"id": "chatcmpl-1", "model": "gpt-5", "usage": {"total_tokens": 9},
              "choices": [{"message": {"role": "assistant", "content": "Hello."}}]}


@pytest.mark.parametrize(("state", "layer", "distance", "cached", "hit_distance", "shown_layer"), [
    ("miss", None, None, False, None, None),
    ("bypass", None, None, False, None, None),
    ("hit", "exact", None, True, 0.0, "exact"),
    ("hit", "semantic", "0.0123", True, 0.0123, "semantic"),
    ("hit", "flight", None, True, None, "flight"),
])
def test_the_answer_says_whether_and_how_near_it_was_cached(state, layer, distance, cached, hit_distance,
                                                             shown_layer) -> None:
    answer = seed_answer(COMPLETION, route="faq", state=state, layer=layer, distance=distance)
    assert answer == {"id": "chatcmpl-1", "model": "gpt-5", "route": "faq", "answer": "Hello.", "tool_calls": None,
                      "cached": cached, "layer": shown_layer, "hit_distance": hit_distance,
                      "usage": {"total_tokens": 9}}


@pytest.mark.parametrize("choices", [None, [], [None], "abc", {"x": 1}, [{"message": "hi"}], [{"message": None}]])
def test_an_odd_completion_still_gets_an_answer_in_the_interface_shape(choices) -> None:
    answer = seed_answer({"id": "x", "choices": choices}, route="r", state="miss", layer=None, distance=None)
    assert (answer["answer"], answer["tool_calls"], answer["cached"]) == (None, None, False)
