"""The fake upstream's Anthropic Messages answers as Anthropic shapes them, read by the official SDK straight from
the fake: fresh numbers, the documented message and event order (a ping among them), tool use unless a tool result
answers it, signed thinking, token counts, and Anthropic's refusals."""

from __future__ import annotations

import re

import anthropic
import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream

ANSWER = re.compile(r"^answer (\d+) to: (.*)$")
TOOLS = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
ASK = [{"role": "user", "content": "hello there"}]


def sdk(fake: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.origin, api_key="sk-ant-fake", max_retries=0)


def test_a_message_has_anthropics_shape_and_a_fresh_number(fake_upstream: FakeUpstream) -> None:
    first = sdk(fake_upstream).messages.create(model="claude-x", max_tokens=64, messages=ASK)
    second = sdk(fake_upstream).messages.create(model="claude-x", max_tokens=64, messages=ASK)
    one, two = ANSWER.match(first.content[0].text), ANSWER.match(second.content[0].text)
    assert one and two and one.group(2) == "hello there" and int(two.group(1)) > int(one.group(1))
    assert first.id == f"msg_fake{one.group(1)}" and first.type == "message" and first.role == "assistant"
    assert first.stop_reason == "end_turn" and first.stop_sequence is None
    assert first.usage.input_tokens == 2 and first.usage.output_tokens == 5


def test_a_stream_comes_in_the_documented_order(fake_upstream: FakeUpstream) -> None:
    with httpx.stream("POST", f"{fake_upstream.origin}/v1/messages", headers={
            "x-api-key": "k", "anthropic-version": "2023-06-01"}, json={
            "model": "claude-x", "max_tokens": 64, "stream": True, "messages": ASK}) as response:
        names = [line[7:] for line in response.read().decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    with sdk(fake_upstream).messages.stream(model="claude-x", max_tokens=64, messages=ASK) as stream:
        final = stream.get_final_message()
    assert ANSWER.match(final.content[0].text) and final.usage.output_tokens == 5


@pytest.mark.parametrize("streamed", [False, True])
def test_tools_are_used_unless_a_tool_result_answers_them(fake_upstream: FakeUpstream, streamed: bool) -> None:
    client = sdk(fake_upstream)

    def create(messages: list) -> anthropic.types.Message:
        if not streamed:
            return client.messages.create(model="claude-x", max_tokens=64, messages=messages, tools=TOOLS)
        with client.messages.stream(model="claude-x", max_tokens=64, messages=messages, tools=TOOLS) as stream:
            return stream.get_final_message()

    used = create(ASK)
    call = used.content[0]
    assert used.stop_reason == "tool_use" and (call.type, call.name, call.input) == ("tool_use", "lookup",
                                                                                      {"q": "hello there"})
    answered = create([*ASK, {"role": "assistant", "content": [call.model_dump()]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "42"}]}])
    assert answered.stop_reason == "end_turn" and answered.content[0].type == "text"


def test_thinking_comes_first_and_signed(fake_upstream: FakeUpstream) -> None:
    with sdk(fake_upstream).messages.stream(model="claude-x", max_tokens=2048, messages=ASK,
                                            thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking.startswith("thinking ") and thinking.signature
    assert text.type == "text"


def test_tokens_are_counted(fake_upstream: FakeUpstream) -> None:
    assert sdk(fake_upstream).messages.count_tokens(model="claude-x", messages=ASK).input_tokens == 2


@pytest.mark.parametrize(("headers", "body", "status", "message"), [
    ({"anthropic-version": "2023-06-01"}, {"model": "m", "max_tokens": 1, "messages": ASK}, 401,
     "x-api-key header is required"),
    ({"x-api-key": "k"}, {"model": "m", "max_tokens": 1, "messages": ASK}, 400,
     "anthropic-version: header is required"),
    ({"x-api-key": "k", "anthropic-version": "2023-06-01"}, {"model": "m", "messages": ASK}, 400,
     "max_tokens: Field required"),
])
def test_refusals_have_anthropics_shape(fake_upstream: FakeUpstream, headers: dict, body: dict, status: int,
                                        message: str) -> None:
    response = httpx.post(f"{fake_upstream.origin}/v1/messages", headers=headers, json=body)
    assert response.status_code == status and response.json()["type"] == "error"
    assert response.json()["error"]["message"] == message
