"""The fake upstream's legacy completions as OpenAI shapes them, read by the official SDK: fresh numbers, one choice
per prompt, `max_tokens` and `echo` and `logprobs`, a stream word by word then each finish and the usage, and
validation errors."""

from __future__ import annotations

import openai
import pytest

from tests.integration.harness.calls import client
from tests.support.fake_upstream import COMPLETIONS_PATH, FakeUpstream
from tests.support.traffic import wait_until

MODEL = "gpt-3.5-turbo-instruct"


def test_whole_answers_are_numbered_one_choice_per_prompt(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        first = sdk.completions.create(model=MODEL, prompt="Say hi")
        batch = sdk.completions.create(model=MODEL, prompt=[[1, 2], [3]], n=2)
    assert first.object == "text_completion" and first.id.startswith("cmpl-fake-") and first.model == MODEL
    number = first.id.rsplit("-", 1)[1]
    assert first.choices[0].text == f"answer {number} to: Say hi" and first.choices[0].finish_reason == "stop"
    assert first.usage is not None and (first.usage.prompt_tokens, first.usage.completion_tokens) == (2, 5)
    assert [choice.index for choice in batch.choices] == [0, 1, 2, 3]
    assert batch.choices[1].text.endswith("to: tokens 1 2") and batch.choices[2].text.endswith("to: tokens 3")
    assert len({c.text for c in batch.choices}) == 4
    assert fake_upstream.calls(COMPLETIONS_PATH) == 2


def test_max_tokens_echo_and_logprobs(fake_upstream: FakeUpstream) -> None:
    with client(fake_upstream) as sdk:
        cut = sdk.completions.create(model=MODEL, prompt="Say hi", max_tokens=2)
        echoed = sdk.completions.create(model=MODEL, prompt="Say hi", echo=True, logprobs=1)
    assert cut.choices[0].text.count(" ") == 1 and cut.choices[0].finish_reason == "length"
    text, logprobs = echoed.choices[0].text, echoed.choices[0].logprobs
    assert text.startswith("Say hianswer ") and logprobs is not None and "".join(logprobs.tokens) == text
    assert logprobs.text_offset[0] == 0 and len(logprobs.token_logprobs) == len(logprobs.tokens)


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_stream_sends_words_then_each_finish_then_usage(fake_upstream: FakeUpstream, include_usage: bool) -> None:
    options = {"include_usage": True} if include_usage else None
    with client(fake_upstream) as sdk:
        chunks = list(sdk.completions.create(model=MODEL, prompt=["a", "b"], stream=True, stream_options=options))
    texts = ["".join(c.choices[0].text for c in chunks if c.choices and c.choices[0].index == i) for i in (0, 1)]
    assert texts[0].endswith("to: a") and texts[1].endswith("to: b")
    finishes = [c.choices[0] for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [(f.index, f.text, f.finish_reason) for f in finishes] == [(0, "", "stop"), (1, "", "stop")]
    if include_usage:
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    else:
        assert all(chunk.usage is None for chunk in chunks)
    # The server marks a stream finished after its last write, which the client may read first.
    assert wait_until(lambda: fake_upstream.streams[-1].finished, 2)


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "x"}, "model"), ({"model": MODEL}, "prompt"), ({"model": MODEL, "prompt": ["a", 1]}, "prompt"),
    ({"model": MODEL, "prompt": "x", "max_tokens": "5"}, "max_tokens"),
])
def test_invalid_requests_are_openai_errors(fake_upstream: FakeUpstream, body: dict, param: str) -> None:
    with client(fake_upstream) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.post("/completions", body=body, cast_to=object)
    assert caught.value.body["param"] == param
