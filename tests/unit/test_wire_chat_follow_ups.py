"""A chat request going on: whether it follows an answer, and the request a client sends next to ask a question
once it was answered, which must key like the client's own so a prefetched answer is found."""

from __future__ import annotations

import pytest

from gateway.wire.chat import read_chat

ANSWER = {"id": "c1", "object": "chat.completion", "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris.", "refusal": None},
                       "finish_reason": "stop"}]}


def chat(body: bytes, **headers: str):
    return read_chat(body, headers, default_model="default-model")


@pytest.mark.parametrize(("messages", "follows"), [
    ('[{"role":"user","content":"hi"}]', False),
    ('[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]', False),
    ('[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"more"}]', True),
    ('[{"role":"assistant","content":"hello"}]', False),  # the assistant's turn is the last: nothing followed it
])
def test_whether_a_request_follows_an_answer(messages: str, follows: bool) -> None:
    assert chat(b'{"model":"m","messages":%s}' % messages.encode()).follows_up is follows


def test_the_next_request_keys_as_the_clients_own_follow_up() -> None:
    opening = chat(b'{"model":"m","temperature":0,"stream":true,"stream_options":{"include_usage":true},'
                   b'"messages":[{"role":"user","content":"Capital of France?"}]}', **{"x-route": "faq"})
    after = opening.continued(ANSWER, "And of Spain?")
    assert after is not None and not after.stream and after.controls == opening.controls
    client = chat(b'{"model":"m","temperature":0,"messages":[{"role":"user","content":"Capital of France?"},'
                  b'{"role":"assistant","content":"Paris."},{"role":"user","content":"And of Spain?"}]}',
                  **{"x-route": "faq"})
    assert after.key("tenant").exact == client.key("tenant").exact
    assert after.key("tenant").exact != client.key("other-tenant").exact


@pytest.mark.parametrize("answer", [
    {"choices": [{"message": {"role": "assistant", "content": None,
                              "tool_calls": [{"id": "t", "type": "function",
                                              "function": {"name": "f", "arguments": "{}"}}]}}]},
    {"choices": [{"message": {"role": "assistant", "content": ""}}]},
    {"choices": []},
    {"choices": "nonsense"},
    {},
])
def test_an_answer_with_no_text_to_echo_has_no_next_request(answer: dict) -> None:
    opening = chat(b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    assert opening.continued(answer, "more") is None

