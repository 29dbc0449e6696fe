"""The fake upstream's chat answers as OpenAI shapes them: fresh numbers, the raw JSON keys, a stream word by word
then its finish (and usage when asked for), tool calls both ways, and validation errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest

from tests.integration.harness.calls import ask, client
from tests.support.fake_upstream import FakeUpstream, iter_sse_data

ANSWER = re.compile(r"^answer (\d+) to: (.*)$", re.S)
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def test_chat_non_stream_shape_and_fresh_numbers(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream, "sk-abc") as sdk:
        first = sdk.chat.completions.create(model="gpt-4o-mini", messages=ask("hello there"))
        second = sdk.chat.completions.create(model="gpt-4o-mini", messages=ask("hello there"))

    m1 = ANSWER.match(first.choices[0].message.content or "")
    m2 = ANSWER.match(second.choices[0].message.content or "")
    assert m1 and m2 and m1.group(2) == "hello there"
    assert int(m2.group(1)) > int(m1.group(1))
    assert first.id == f"chatcmpl-fake-{m1.group(1)}"
    assert first.object == "chat.completion" and first.model == "gpt-4o-mini"
    assert first.system_fingerprint == "fp_fake"
    assert first.choices[0].finish_reason == "stop" and first.choices[0].message.refusal is None
    assert first.usage is not None
    assert first.usage.prompt_tokens == 4  # "be brief" + "hello there"
    assert first.usage.completion_tokens == 5
    assert first.usage.total_tokens == 9
    assert fake_upstream.calls() == 2
    last = fake_upstream.last()
    assert last is not None and last.headers["authorization"] == "Bearer sk-abc"
    assert last.json is not None and last.json["model"] == "gpt-4o-mini"


def test_chat_raw_json_keys_match_openai(fake_upstream: FakeUpstream) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}],
        "n": 2,
    }
    response = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5)
    data = response.json()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert list(data) == ["id", "object", "created", "model", "choices", "usage", "system_fingerprint"]
    assert [c["index"] for c in data["choices"]] == [0, 1]
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": data["choices"][0]["message"]["content"],
        "refusal": None,
    }
    assert data["choices"][0]["logprobs"] is None
    assert data["choices"][0]["message"]["content"] != data["choices"][1]["message"]["content"]
    assert data["choices"][1]["message"]["content"].endswith(" to: a b")


def test_chat_stream_words_then_finish(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=ask("one  two\tthree "), stream=True))

    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    words = [c.choices[0].delta.content for c in chunks[1:-1]]
    text = "".join(w or "" for w in words)
    match = ANSWER.match(text)
    assert match and match.group(2) == "one  two\tthree "  # streamed text is byte-identical to the prompt
    assert words[0] == "answer" and all(w and w[0].isspace() for w in words[1:])
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].delta.content is None
    assert all(c.usage is None for c in chunks)
    assert {c.id for c in chunks} == {f"chatcmpl-fake-{match.group(1)}"}
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_stream_include_usage(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        stream = sdk.chat.completions.create(
            model="gpt-4o", messages=ask("count me"), stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 4 and chunks[-1].usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"

    # On the wire every earlier chunk carries an explicit "usage": null, as OpenAI's do.
    body = {"model": "m", "messages": ask("x"), "stream": True, "stream_options": {"include_usage": True}}
    raw = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=body, timeout=5)
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.headers["transfer-encoding"] == "chunked"
    payloads = list(iter_sse_data(raw.content))
    assert payloads[-1] == "[DONE]"
    events = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" in e and e["usage"] is None for e in events[:-1])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 3 + 4


def test_chat_tool_call_non_stream_and_stream(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        done = sdk.chat.completions.create(model="gpt-4o", messages=ask("weather in Oslo"), tools=TOOLS)
        chunks = list(
            sdk.chat.completions.create(model="gpt-4o", messages=ask("weather in Oslo"), tools=TOOLS, stream=True)
        )

    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "lookup"
    assert call.id == f"call_{done.id.rsplit('-', 1)[1]}"
    assert json.loads(call.function.arguments) == {"q": "weather in Oslo"}
    assert done.usage is not None and done.usage.completion_tokens == 4  # '{"q":', '"weather', 'in', 'Oslo"}'

    head = chunks[0].choices[0].delta
    assert head.role == "assistant" and head.tool_calls is not None
    assert head.tool_calls[0].id and head.tool_calls[0].function is not None
    assert head.tool_calls[0].function.name == "lookup" and head.tool_calls[0].function.arguments == ""
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:-1]]  # type: ignore[index,union-attr]
    assert len(pieces) == 3 and json.loads("".join(pieces)) == {"q": "weather in Oslo"}  # type: ignore[arg-type]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_validation_error(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk, pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="gpt-4o", messages=[])
    assert err.value.status_code == 400 and err.value.param == "messages"
    raw = httpx.post(f"{fake_upstream.base_url}/chat/completions", json={"messages": ask("x")}, timeout=5)
    assert raw.status_code == 400 and raw.json()["error"]["param"] == "model"


