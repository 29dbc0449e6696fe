"""The SSE parser and the completion <-> chunks round trip, on tables of inputs."""

from __future__ import annotations

import contextlib
import re

import orjson
import pytest

from gateway.wire import sse
from gateway.wire.chat import ChatStream
from gateway.wire.completion import CompletionAssembler, as_chunks, as_response, is_complete

STREAM = (b'data: {"a": 1}\n\n'
          b": keep-alive comment\n\n"
          b'data: {"b":\r\ndata: 2}\r\n\r\n'
          b"data:c\rdata:  r\r\r"
          b"event: x\ndata: [DONE]\n\n")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(STREAM)])
def test_parser_finds_the_same_events_whatever_the_split(size: int) -> None:
    parser = sse.SSEParser()
    events = []
    for start in range(0, len(STREAM), size):
        events += parser.feed(STREAM[start:start + size])
    assert [event.data for event in events] == ['{"a": 1}', "", '{"b":\n2}', "c\n r", "[DONE]"]
    assert b"".join(event.raw for event in events) == STREAM  # relayed byte for byte


def test_parser_keeps_an_unterminated_event_until_its_end_arrives() -> None:
    parser = sse.SSEParser()
    assert parser.feed(b'data: {"a": 1}\n\ndata: {"cut') == [sse.Event('{"a": 1}', b'data: {"a": 1}\n\n')]
    assert parser.feed(b'": 2}\n\n') == [sse.Event('{"cut": 2}', b'data: {"cut": 2}\n\n')]


class _CountingSearch:
    """The parser's separator pattern, counting the bytes its searches scan (from where each starts to the end
    of its match, or of the buffer): a structural measure of the parser's work, unlike a timer."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self._pattern = pattern
        self.scanned = 0

    def search(self, buffer: bytearray, pos: int = 0) -> re.Match[bytes] | None:
        found = self._pattern.search(buffer, pos)
        self.scanned += (found.end() if found else len(buffer)) - pos
        return found


@pytest.mark.parametrize(("size", "chunk", "end"), [
    (64 << 10, 1, b"\n\n"), (1 << 20, 7, b"\r\n\r\n"), (1 << 20, 1000, b"\r\r"), (4 << 20, 4096, b"\n\n"),
    (sse.MAX_EVENT_BYTES - 16, 65536, b"\r\n\r\n"),
])
def test_a_huge_event_costs_work_in_proportion_to_its_size(monkeypatch, size: int, chunk: int, end: bytes) -> None:
    """However finely it arrives, each byte is searched about once (a separator's first bytes may be searched
    again with the next chunk): re-scanning the buffer on every chunk made a 16 MB line cost 11 s of CPU."""
    counting = _CountingSearch(sse._SEPARATOR)
    monkeypatch.setattr(sse, "_SEPARATOR", counting)
    event = b"data: " + b"x" * (size - 6 - len(end)) + end
    stream = event + b"data: [DONE]\n\n"
    parser = sse.SSEParser()
    events = []
    for start in range(0, len(stream), chunk):
        events += parser.feed(stream[start:start + chunk])
    assert [e.raw for e in events] == [event, sse.DONE] and events[0].data == "x" * (size - 6 - len(end))
    chunks = -(-len(stream) // chunk)
    assert counting.scanned <= len(stream) + 3 * chunks


@pytest.mark.parametrize("chunk", [1000, 65536, sse.MAX_EVENT_BYTES + 100])
def test_an_event_over_the_limit_fails_the_stream_and_one_at_it_does_not(chunk: int) -> None:
    at_limit = b"data: " + b"x" * (sse.MAX_EVENT_BYTES - 8) + b"\n\n"
    over = b"data: " + b"x" * (sse.MAX_EVENT_BYTES - 7) + b"\n\n"
    never_ends = b"data: " + b"x" * sse.MAX_EVENT_BYTES
    for event, fails in ((at_limit, False), (over, True), (never_ends, True)):
        parser = sse.SSEParser()
        events = []
        with contextlib.ExitStack() as stack:
            if fails:
                stack.enter_context(pytest.raises(sse.EventTooLong))
            for start in range(0, len(event), chunk):
                events += parser.feed(event[start:start + chunk])
        assert [e.raw for e in events] == ([] if fails else [event])


TEXT = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "system_fingerprint": "fp", "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12},
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "Redis is an in-memory  data store.\n",
                                 "refusal": None}}]}
TOOLS = {"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
         "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                      "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                          {"id": "call_1", "type": "function",
                           "function": {"name": "lookup", "arguments": '{"q": "what is redis"}'}},
                          {"id": "call_2", "type": "function", "function": {"name": "other", "arguments": "{}"}},
                      ]}}]}
REFUSAL = {"id": "c3", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
           "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                        "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."}}]}


@pytest.mark.parametrize("completion", [TEXT, TOOLS, REFUSAL])
@pytest.mark.parametrize("include_usage", [True, False])
def test_chunks_reassemble_into_the_same_answer(completion: dict, include_usage: bool) -> None:
    chunks = as_chunks(completion, include_usage=include_usage)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assembler = CompletionAssembler()
    for chunk in chunks:
        assembler.feed(orjson.loads(orjson.dumps(chunk)))
    rebuilt = assembler.result()
    assert rebuilt is not None
    assert rebuilt["choices"] == completion["choices"]
    assert rebuilt["usage"] == (completion["usage"] if include_usage else None)
    assert ("usage" in chunks[-1] and chunks[-1]["choices"] == []) is include_usage


def test_text_is_replayed_in_several_chunks_not_one() -> None:
    contents = [chunk["choices"][0]["delta"].get("content") for chunk in as_chunks(TEXT, include_usage=False)]
    assert contents[0] == "" and len([c for c in contents if c]) >= 2


def test_assembler_is_incomplete_until_every_choice_finished() -> None:
    assembler = CompletionAssembler()
    assembler.feed({"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]})
    assert assembler.result() is None
    assembler.feed({"id": "x", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]})
    assert assembler.result()["choices"][0]["message"]["content"] == "Hello"


@pytest.mark.parametrize(("value", "complete"), [
    (TEXT, True), (TOOLS, True), ({"error": {"message": "x"}}, False), ({"choices": []}, False),
    ({"choices": [{"message": {"content": "x"}, "finish_reason": None}]}, False), ("text", False),
])
def test_only_finished_completions_count_as_complete(value: object, complete: bool) -> None:
    assert is_complete(value) is complete


def test_a_replayed_response_gets_a_fresh_id_and_keeps_the_answer() -> None:
    replay = as_response(TEXT)
    assert replay["id"] != TEXT["id"] and replay["id"].startswith("chatcmpl-")
    assert replay["choices"] == TEXT["choices"] and replay["usage"] == TEXT["usage"]


@pytest.mark.parametrize("odd", [
    {"choices": ["x"]},
    {"choices": [{"index": [1], "delta": {"content": "a"}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": 5}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"name": 3}}]}}]},
    {"choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": "x", "finish_reason": "stop"}]},
])
def test_a_chunk_outside_the_api_shape_is_relayed_and_nothing_is_kept(odd: dict) -> None:
    reading = ChatStream(drop_usage=False)
    chunks = [{"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}, odd,
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    for event in sse.SSEParser().feed(b"".join(sse.encode(chunk) for chunk in chunks) + sse.DONE):
        assert reading.take(event)
    assert reading.ended and reading.result() is None
