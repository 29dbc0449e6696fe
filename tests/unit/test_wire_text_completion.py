"""The legacy text-completions wire format, on tables: which bodies are refused, which requests share a key and
which layers may serve them, a stream's chunks rebuilt into one answer, and a stored answer written back as JSON
or as the chunks OpenAI streams."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import InvalidRequest, Uncacheable
from gateway.wire import sse
from gateway.wire.canonical import MAX_SEMANTIC_PROMPT_CHARS, chat_key
from gateway.wire.requests import validate_text_completion
from gateway.wire.text_completion import read_text_completion, text_completion_key
from gateway.wire.text_completion_answer import (
    TEXT_COMPLETION_ANSWERS,
    TextCompletionAssembler,
    as_chunks,
    is_complete,
)

OK = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test"}


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": "x"}, "model"),
    ({"model": "m"}, "prompt"),
    ({"model": "m", "prompt": None}, "prompt"),
    ({"model": "", "prompt": "x"}, "model"),
    ({"model": 5, "prompt": "x"}, "model"),
    ({**OK, "prompt": 5}, "prompt"),
    ({**OK, "prompt": {"text": "x"}}, "prompt"),
    ({**OK, "prompt": []}, "prompt"),
    ({**OK, "stream": "true"}, "stream"),
    ({**OK, "n": 0}, "n"),
    ({**OK, "n": "2"}, "n"),  # an upstream reading "2" as 2 would answer twice what the gateway keyed as once
    ({**OK, "best_of": 0}, "best_of"),
    ({**OK, "best_of": 1.5}, "best_of"),
    ({**OK, "echo": "true"}, "echo"),  # read as true upstream, it would restate this prompt to paraphrases
    ({**OK, "echo": 1}, "echo"),
    ({**OK, "logprobs": -1}, "logprobs"),
    ({**OK, "logprobs": True}, "logprobs"),
    ({**OK, "logprobs": "3"}, "logprobs"),
    ({**OK, "stream_options": []}, "stream_options"),
    ({**OK, "logit_bias": [1]}, "logit_bias"),
    ({**OK, "temperature": "hot"}, "temperature"),
    ({**OK, "frequency_penalty": True}, "frequency_penalty"),
])
def test_invalid_requests_name_the_parameter(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_text_completion(body)
    assert caught.value.param == param and caught.value.status == 400


@pytest.mark.parametrize("body", [
    OK, {**OK, "prompt": ""}, {**OK, "prompt": ["a", "b"]}, {**OK, "prompt": [1, 2, 3]}, {**OK, "prompt": [[1], [2]]},
    {**OK, "stream": True, "stream_options": {"include_usage": True}, "n": 1, "best_of": 3, "echo": False,
     "logprobs": 0, "suffix": "!", "max_tokens": 7, "stop": ["\n"], "logit_bias": {"50256": -100}, "seed": 1,
     "temperature": 0, "top_p": 1, "presence_penalty": 0.5, "user": "u1"},
])
def test_valid_requests_pass(body: dict) -> None:
    validate_text_completion(body)


def key(body: dict, *, model: str = "gpt-3.5-turbo-instruct", route: str = "default", tenant: str = "t1"):
    return text_completion_key(body, model=model, route=route, tenant=tenant)


def test_the_prompt_is_what_the_semantic_layer_compares() -> None:
    a, b = key(OK), key({**OK, "prompt": "Say this is a trial"})
    assert a.prompt == "Say this is a test" and a.answers is TEXT_COMPLETION_ANSWERS
    assert a.context == b.context and a.exact != b.exact  # a paraphrase may be a semantic hit


SAME_EXACT = [
    ({**OK, "prompt": ["Say this is a test"]}, OK),  # one prompt, spelt as a list
    ({**OK, "temperature": 0.2, "top_p": 0.5, "seed": 4, "stream": True, "stream_options": {"include_usage": True},
      "user": "u1", "n": 1, "metadata": {"a": "b"}}, OK),  # sampling, stream flags and metadata
    ({"prompt": OK["prompt"], "suffix": None, "model": OK["model"]}, OK),  # key order and explicit nulls
]


@pytest.mark.parametrize(("left", "right"), SAME_EXACT)
def test_equivalent_requests_share_the_exact_key(left: dict, right: dict) -> None:
    assert key(left).exact == key(right).exact


DIFFERENT_CONTEXT = [
    {**OK, "suffix": " Done."}, {**OK, "max_tokens": 5}, {**OK, "stop": ["."]}, {**OK, "best_of": 3},
    {**OK, "logit_bias": {"50256": -100}}, {**OK, "frequency_penalty": 2.0}, {**OK, "presence_penalty": -2.0},
    {**OK, "some_future_parameter": True},
]


@pytest.mark.parametrize("other", DIFFERENT_CONTEXT)
def test_anything_else_is_in_scope(other: dict) -> None:
    assert key(other).context != key(OK).context


@pytest.mark.parametrize("change", [{"model": "davinci-002"}, {"route": "support"}, {"tenant": "t2"}])
def test_model_route_and_tenant_partition_the_cache(change: dict) -> None:
    other = key(OK, **change)
    assert other.context != key(OK).context and other.exact != key(OK).exact


def test_a_chat_request_never_shares_a_key_with_a_completion_of_its_text() -> None:
    chat = chat_key({"messages": [{"role": "user", "content": OK["prompt"]}]}, model=OK["model"], route="default",
                    tenant="t1")
    assert chat.context != key(OK).context and chat.exact != key(OK).exact


EXACT_ONLY = [
    {**OK, "prompt": ["Say this is a test", "Say this is a trial"]},  # several answers, one per prompt
    {**OK, "prompt": [1, 2, 3]},
    {**OK, "prompt": [[1, 2, 3]]},
    {**OK, "echo": True},  # the answer restates its prompt
    {**OK, "logprobs": 0},  # text offsets count from the prompt's end
    {**OK, "prompt": "   "},
    {**OK, "prompt": "x" * (MAX_SEMANTIC_PROMPT_CHARS + 1)},
]


@pytest.mark.parametrize("body", EXACT_ONLY)
def test_prompt_bound_requests_are_served_exact_repeats_only(body: dict) -> None:
    keyed = key(body)
    assert keyed.prompt is None
    assert keyed.exact == key(dict(body)).exact
    assert keyed.context != key(OK).context


def test_echo_false_and_logprobs_null_leave_the_semantic_layer_on() -> None:
    assert key({**OK, "echo": False, "logprobs": None}).prompt == OK["prompt"]


def test_several_choices_are_never_served_from_the_cache() -> None:
    with pytest.raises(Uncacheable):
        key({**OK, "n": 2})
    request = read_text_completion(orjson.dumps({**OK, "n": 3}), {})
    assert request.key("t1") is None


def chunk(*choices: dict, **fields) -> dict:
    return {"id": "cmpl-up", "object": "text_completion", "created": 7, "model": "m", "choices": list(choices),
            **fields}


def piece(text: str, index: int = 0, finish: str | None = None, logprobs: dict | None = None) -> dict:
    return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}


USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
ASSEMBLED = [
    # text in order, the finish reason on a chunk of its own, the usage chunk last
    ([chunk(piece("Hello")), chunk(piece(" there")), chunk(piece("", finish="stop")),
      chunk(usage=USAGE)],
     [piece("Hello there", finish="stop")], USAGE),
    # two prompts' choices interleaved
    ([chunk(piece("a", 1)), chunk(piece("b", 0)), chunk(piece("c", 1, "length")), chunk(piece("", 0, "stop"))],
     [piece("b", 0, "stop"), piece("ac", 1, "length")], None),
    # log probabilities of each piece put together
    ([chunk(piece("Hi", logprobs={"tokens": ["Hi"], "token_logprobs": [-0.1], "top_logprobs": [{"Hi": -0.1}],
                                  "text_offset": [5]})),
      chunk(piece(" you", finish="stop", logprobs={"tokens": [" you"], "token_logprobs": [-0.2],
                                                    "top_logprobs": [{" you": -0.2}], "text_offset": [7]}))],
     [piece("Hi you", finish="stop", logprobs={"tokens": ["Hi", " you"], "token_logprobs": [-0.1, -0.2],
                                               "top_logprobs": [{"Hi": -0.1}, {" you": -0.2}],
                                               "text_offset": [5, 7]})], None),
    # what is not a choice, or not text, is passed over
    ([chunk("junk", 5, {"text": 7, "index": "0"}, piece("ok", finish="stop"))], [piece("ok", finish="stop")], None),
]


@pytest.mark.parametrize(("chunks", "choices", "usage"), ASSEMBLED)
def test_a_stream_is_rebuilt_into_one_completion(chunks: list, choices: list, usage) -> None:
    assembler = TextCompletionAssembler()
    for each in chunks:
        assembler.feed(each)
    assert assembler.result() == {"id": "cmpl-up", "object": "text_completion", "created": 7, "model": "m",
                                  "choices": choices, "usage": usage}


@pytest.mark.parametrize("chunks", [[], [chunk(piece("cut off"))],
                                    [chunk(piece("a", 0, "stop")), chunk(piece("b", 1))]])
def test_an_unfinished_stream_is_no_answer(chunks: list) -> None:
    assembler = TextCompletionAssembler()
    for each in chunks:
        assembler.feed(each)
    assert assembler.result() is None


STORED = {"id": "cmpl-up", "object": "text_completion", "created": 7, "model": "m", "system_fingerprint": "fp",
          "choices": [piece("\n\nThis is indeed a test of many words here", 0, "length"), piece("", 1, "stop")],
          "usage": USAGE}


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_stored_answer_replays_as_the_chunks_that_rebuild_it(include_usage: bool) -> None:
    chunks = as_chunks(STORED, include_usage=include_usage)
    assert len({each["id"] for each in chunks}) == 1 and chunks[0]["id"].startswith("cmpl-")
    assert chunks[0]["id"] != STORED["id"] and all(each["object"] == "text_completion" for each in chunks)
    assert len([each for each in chunks if each["choices"] and each["choices"][0]["text"]]) > 2  # a few words each
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
        assert all(each["usage"] is None for each in chunks[:-1])
    else:
        assert all("usage" not in each for each in chunks)
    assembler = TextCompletionAssembler()
    for each in chunks:
        assembler.feed(each)
    rebuilt = assembler.result()
    assert rebuilt is not None and rebuilt["choices"] == STORED["choices"]
    assert rebuilt["usage"] == (USAGE if include_usage else None)


def test_a_request_is_written_back_fresh_as_json_or_sse() -> None:
    whole = orjson.loads(read_text_completion(orjson.dumps(OK), {}).cached(STORED))
    assert whole["id"].startswith("cmpl-") and whole["id"] != STORED["id"] and whole["created"] > STORED["created"]
    assert {name: value for name, value in whole.items() if name not in ("id", "created")} == \
        {name: value for name, value in STORED.items() if name not in ("id", "created")}
    streamed = read_text_completion(orjson.dumps({**OK, "stream": True}), {}).cached(STORED)
    events = sse.SSEParser().feed(streamed)
    assert events[-1].raw == sse.DONE and all(orjson.loads(event.data) for event in events[:-1])


def test_the_cache_asks_a_stream_for_its_usage_and_keeps_it_from_the_client() -> None:
    request = read_text_completion(orjson.dumps({**OK, "stream": True}), {})
    assert request.path == "/completions"
    assert orjson.loads(request.upstream_body(caching=True))["stream_options"] == {"include_usage": True}
    assert "stream_options" not in orjson.loads(request.upstream_body(caching=False))
    answer = request.stream_answer(caching=True)
    for each in (chunk(piece("Hi", finish="stop")), chunk(usage=USAGE)):
        relayed = answer.take(sse.Event(orjson.dumps(each).decode(), b""))
    assert relayed is False  # the usage chunk only the cache asked for
    answer.take(sse.Event("[DONE]", b""))
    assert answer.ended and answer.result()["usage"] == USAGE and answer.result()["choices"][0]["text"] == "Hi"


@pytest.mark.parametrize(("answer", "complete"), [
    (STORED, True),
    ({**STORED, "object": "chat.completion"}, False),
    ({**STORED, "choices": []}, False),
    ({**STORED, "choices": [piece("cut off")]}, False),
    ({**STORED, "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}, False),
    ({"error": {"message": "boom"}}, False),
    ("text", False),
])
def test_only_a_finished_text_completion_is_an_answer(answer, complete: bool) -> None:
    assert is_complete(answer) is complete


@pytest.mark.parametrize(("answer", "text"), [
    (STORED, "This is indeed a test of many words here"),
    ({"choices": ["junk"]}, ""),
    ({"choices": None}, ""),
])
def test_what_an_answer_says_is_its_first_text(answer: dict, text: str) -> None:
    assert TEXT_COMPLETION_ANSWERS.reply(answer).text == text
