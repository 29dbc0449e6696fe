"""Anthropic messages as the cache keeps and replays them, on tables: what makes one whole, what it says, which
are only their tenant's; a stored message replayed as the named events Anthropic streams, read back into the same
message; a stream rebuilt from its events, and never from one that failed, broke off or was not understood."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamProtocolError
from gateway.wire import sse
from gateway.wire.answers import Reply
from gateway.wire.anthropic_errors import ANTHROPIC_ERRORS
from gateway.wire.message_answers import MESSAGES_ANSWERS, MessageAssembler, as_events, as_json
from gateway.wire.messages import MessagesStream

USAGE = {"input_tokens": 12, "output_tokens": 9, "cache_read_input_tokens": 0}
TEXT = {"type": "text", "text": "Redis is an in-memory data store, often used as a cache."}
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "What is Redis?", "limit": 3}}
THINKING = {"type": "thinking", "thinking": "The user asks about Redis.", "signature": "EqQBCkYIARgCIkD"}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
CITED = {"type": "text", "text": "It is fast.", "citations": [
    {"type": "char_location", "cited_text": "fast", "document_index": 0, "start_char_index": 0, "end_char_index": 4}]}
SEARCHED = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}


def message(*blocks: dict[str, Any], stop_reason: str = "end_turn", **extra: Any) -> dict[str, Any]:
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": list(blocks), "stop_reason": stop_reason, "stop_sequence": None, "usage": USAGE, **extra}


def parsed(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, payload) of each event of a raw SSE body."""
    events = []
    for event in sse.SSEParser().feed(raw):
        name = next(line[7:] for line in event.raw.decode().splitlines() if line.startswith("event: "))
        events.append((name, orjson.loads(event.data)))
    return events


def assembled(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    assembler = MessageAssembler()
    for event in events:
        assembler.feed(event)
    return assembler.result()


COMPLETE = [
    (message(TEXT), True),
    (message(), True),  # an empty answer is still an answer
    (message(TEXT, stop_reason=None), False),  # a stream's start
    ({**message(TEXT), "type": "error"}, False),
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, False),
    ({**message(TEXT), "content": "text"}, False),
    (message({"text": "no type"}), False),
    ([message(TEXT)], False),
]


@pytest.mark.parametrize(("answer", "whole"), COMPLETE)
def test_only_a_finished_message_is_whole(answer: Any, whole: bool) -> None:
    assert MESSAGES_ANSWERS.complete(answer) is whole


REPLIES = [
    (message(TEXT), Reply(TEXT["text"])),
    (message({"type": "text", "text": " Two "}, {"type": "text", "text": "parts. "}), Reply("Two parts.")),
    (message(THINKING, TOOL, stop_reason="tool_use"), Reply("", (("lookup", TOOL["input"]),))),
]


@pytest.mark.parametrize(("answer", "reply"), REPLIES)
def test_what_a_message_says_is_its_text_and_its_tool_calls(answer: dict, reply: Reply) -> None:
    assert MESSAGES_ANSWERS.reply(answer) == reply


@pytest.mark.parametrize(("answer", "private"), [
    (message(TEXT), False), (message(TOOL), False), (message({**THINKING, "signature": ""}, TEXT), False),
    (message(THINKING, TEXT), True), (message(REDACTED, TEXT), True),
])
def test_signed_or_redacted_thinking_is_only_its_tenants(answer: dict, private: bool) -> None:
    assert MESSAGES_ANSWERS.private(answer) is private


def test_a_hit_as_json_is_the_stored_message_with_a_fresh_id() -> None:
    first, second = orjson.loads(as_json(message(TEXT))), orjson.loads(as_json(message(TEXT)))
    assert first["id"].startswith("msg_") and len(first["id"]) == 28 and first["id"] != second["id"]
    assert {**first, "id": "msg_01"} == message(TEXT)


REPLAYED = [
    message(TEXT),
    message(TOOL, stop_reason="tool_use"),
    message(THINKING, TEXT),
    message(REDACTED, TEXT),
    message(CITED),
    message({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "redis"}},
            SEARCHED, TEXT),
    message({**TOOL, "input": {}}, stop_reason="tool_use"),
    message(TEXT, stop_reason="stop_sequence", stop_sequence="\n\nHuman:", container={"id": "c1"}),
    message(),
]


@pytest.mark.parametrize("stored", REPLAYED)
def test_a_replayed_stream_rebuilds_the_stored_message(stored: dict) -> None:
    events = parsed(as_events(stored))
    assert all(name == payload["type"] for name, payload in events)
    rebuilt = assembled([payload for _, payload in events])
    assert rebuilt is not None and rebuilt["id"].startswith("msg_") and rebuilt["id"] != stored["id"]
    assert {**rebuilt, "id": stored["id"]} == stored


def test_a_replayed_stream_comes_in_anthropics_order_and_in_pieces() -> None:
    events = [payload for _, payload in parsed(as_events(message(THINKING, TOOL, stop_reason="tool_use")))]
    assert [event["type"] for event in events[:3]] == ["message_start", "ping", "content_block_start"]
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] == 12
    deltas = [event["delta"]["type"] for event in events if event["type"] == "content_block_delta"]
    assert deltas.count("thinking_delta") > 1 and deltas.count("input_json_delta") > 1
    assert deltas.index("signature_delta") < deltas.index("input_json_delta")
    assert [event["type"] for event in events[-2:]] == ["message_delta", "message_stop"]
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[-2]["usage"]["output_tokens"] == 9


def stream_of(*blocks: list[dict[str, Any]], stop_reason: str = "end_turn") -> list[dict[str, Any]]:
    """Events as Anthropic streams them: the start's usage counts one output token, a ping after the first block
    opens, the final counts in the message delta."""
    start = {**message(), "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, deltas in enumerate(blocks):
        opening, *rest = deltas
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events += [{"type": "content_block_delta", "index": index, "delta": delta} for delta in rest]
        events.append({"type": "content_block_stop", "index": index})
    events.insert(2, {"type": "ping"})
    return [*events, {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                      "usage": {"output_tokens": 9}}, {"type": "message_stop"}]


TEXT_EVENTS = [{"type": "text", "text": ""}, {"type": "text_delta", "text": "Redis is"},
               {"type": "text_delta", "text": " fast."}]
TOOL_EVENTS = [{**TOOL, "input": {}}, {"type": "input_json_delta", "partial_json": ""},
               {"type": "input_json_delta", "partial_json": '{"q": "What is'},
               {"type": "input_json_delta", "partial_json": ' Redis?", "limit": 3}'}]


def test_a_streamed_miss_is_rebuilt_from_its_events() -> None:
    rebuilt = assembled(stream_of(TEXT_EVENTS, TOOL_EVENTS, stop_reason="tool_use"))
    assert rebuilt == message({"type": "text", "text": "Redis is fast."}, TOOL, stop_reason="tool_use",
                              usage={"input_tokens": 12, "output_tokens": 9})


BROKEN = [
    stream_of(TEXT_EVENTS)[:-1],  # cut off before message_stop
    [*stream_of(TEXT_EVENTS)[:3], {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     *stream_of(TEXT_EVENTS)[3:]],  # an error, even one followed by more
    stream_of([TEXT_EVENTS[0], {"type": "future_delta", "text": "x"}]),  # a delta it does not know
    stream_of(TEXT_EVENTS)[1:],  # no message_start
    stream_of([TOOL_EVENTS[0], {"type": "input_json_delta", "partial_json": '{"q": '}]),  # input that never closes
    [*stream_of(TEXT_EVENTS)[:2], {"type": "content_block_start", "index": 3, "content_block": TEXT_EVENTS[0]},
     *stream_of(TEXT_EVENTS)[2:]],  # a block out of order
    [*stream_of(TEXT_EVENTS), {"type": "message_start", "message": message()}],  # more after the end
    [*stream_of(TEXT_EVENTS)[:-2], {"type": "future_event"}, *stream_of(TEXT_EVENTS)[-2:]],
]


@pytest.mark.parametrize("events", BROKEN)
def test_a_stream_that_failed_broke_off_or_was_not_understood_is_never_whole(events: list) -> None:
    assert assembled(events) is None


def test_the_stream_reader_relays_every_event_and_ends_at_message_stop() -> None:
    reader = MessagesStream()
    raw = b"".join(sse.encode_named(event["type"], event) for event in stream_of(TEXT_EVENTS))
    events = sse.SSEParser().feed(b": keep-alive\n\n" + raw)
    taken = [(reader.take(event), reader.ended) for event in events]
    assert all(relayed for relayed, _ in taken)
    assert [ended for _, ended in taken] == [*[False] * (len(events) - 1), True]
    assert reader.result() is not None
    with pytest.raises(UpstreamProtocolError):
        MessagesStream().take(sse.Event("not json", b"data: not json\n\n"))


def test_errors_in_anthropics_shape_whole_and_mid_stream() -> None:
    assert orjson.loads(ANTHROPIC_ERRORS.body("bad", status=400, param="x", code="y")) == {
        "type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    name, payload = parsed(MessagesStream.error("The upstream stream broke off.", status=502, code="upstream_error"))[0]
    assert name == "error" and payload == {"type": "error", "error": {"type": "api_error",
                                                                      "message": "The upstream stream broke off."}}
    kinds = {status: orjson.loads(ANTHROPIC_ERRORS.body("m", status=status))["error"]["type"]
             for status in (401, 403, 404, 413, 429, 500, 502, 504, 529)}
    assert kinds == {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                     413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
                     504: "timeout_error", 529: "overloaded_error"}
