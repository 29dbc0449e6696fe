"""The Responses API wire format, on tables: what shares a key, what the cache must not serve, a cached answer
written back (as JSON and as the events that stream it), a streamed answer read, and the chaining of ids the
gateway issues."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import InvalidRequest, Uncacheable, UpstreamProtocolError
from gateway.wire import sse
from gateway.wire.canonical import SHARED_TENANT, chat_key
from gateway.wire.issued_responses import input_items, kept_names, restored
from gateway.wire.response_events import RESPONSE_ANSWERS, ResponseStream, answer_in
from gateway.wire.responses_api import MAX_KEPT_INPUT_BYTES, chained, read_responses, remembered_issuable, responses_key

ASK = "What is Redis?"
TOOL = {"type": "function", "name": "search_kb", "parameters": {"type": "object"}}


def key(body: dict, **options):
    return responses_key(body, model="gpt-4.1", route="default", tenant="t1", **options)


def test_the_final_user_input_is_the_prompt_and_the_context_leaves_it_out() -> None:
    first, second = key({"input": ASK}), key({"input": "Explain Redis"})
    assert first.prompt == ASK and first.context == second.context and first.exact != second.exact


SAME_EXACT = [
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": ASK}]}]}, {"input": ASK}),
    ({"input": [{"type": "message", "role": "user", "content": ASK}]}, {"input": ASK}),
    ({"input": ASK, "temperature": 0.3, "top_p": 0.9, "stream": True, "store": False, "metadata": {"a": "b"},
      "user": "u1", "service_tier": "flex", "prompt_cache_key": "k", "safety_identifier": "s"}, {"input": ASK}),
    ({"input": ASK, "tools": None, "instructions": None}, {"input": ASK}),
]


@pytest.mark.parametrize(("left", "right"), SAME_EXACT)
def test_spellings_and_neutral_fields_share_a_key(left: dict, right: dict) -> None:
    assert key(left).exact == key(right).exact


EARLIER = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
IN_SCOPE = [
    {"instructions": "Answer in French."},
    {"input": [*EARLIER, {"role": "user", "content": ASK}]},
    {"tools": [TOOL]},
    {"tools": [TOOL], "tool_choice": "required"},
    {"text": {"format": {"type": "json_object"}}},
    {"reasoning": {"effort": "high"}},
    {"max_output_tokens": 20},
    {"previous_response_id": "resp_abc"},
    {"include": ["message.output_text.logprobs"]},
    {"truncation": "auto"},
]


@pytest.mark.parametrize("change", IN_SCOPE)
def test_every_other_field_partitions_the_context(change: dict) -> None:
    assert key({"input": ASK, **change}).context != key({"input": ASK}).context


def test_a_prompt_template_is_cached_only_where_hosted_tools_are() -> None:
    template = {"input": ASK, "prompt": {"id": "pmpt_1", "version": "2"}}
    assert key(template, hosted_tools=True).context != key({"input": ASK}, hosted_tools=True).context
    with pytest.raises(Uncacheable):
        key(template)


@pytest.mark.parametrize("body", [
    {"input": ASK, "previous_response_id": "resp_upstream"},
    {"input": [{"type": "item_reference", "id": "msg_1"}, {"role": "user", "content": ASK}]},
    {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"},
                                            {"type": "input_text", "text": ASK}]}]},
])
def test_objects_of_one_account_are_never_keyed_on_a_shared_route(body: dict) -> None:
    assert key(body).exact  # a tenant's own route: its account's objects
    with pytest.raises(Uncacheable):
        responses_key(body, model="gpt-4.1", route="faq", tenant=SHARED_TENANT)


def test_a_conversation_too_long_to_keep_is_not_cached() -> None:
    with pytest.raises(Uncacheable):
        key({"input": [{"role": "user", "content": "x" * MAX_KEPT_INPUT_BYTES}]})


@pytest.mark.parametrize("body", [
    {"input": ASK, "background": True},
    {"input": ASK, "conversation": "conv_1"},
    {"input": ASK, "tools": [{"type": "web_search"}]},
    {"input": ASK, "tools": [TOOL, {"type": "file_search", "vector_store_ids": ["vs_1"]}]},
    {"input": ASK, "tools": [{"type": "mcp", "server_label": "x", "server_url": "https://example.com"}]},
])
def test_what_the_cache_must_not_serve(body: dict) -> None:
    request = read_responses(orjson.dumps(body), {}, default_model="m")
    assert request.key("t1") is None


def test_a_route_may_cache_hosted_tools() -> None:
    body = {"input": ASK, "tools": [{"type": "web_search"}]}
    assert read_responses(orjson.dumps(body), {"x-route": "news"}, default_model="m",
                          hosted_tool_routes=frozenset({"news"})).key("t1") is not None


def test_only_a_plain_final_user_turn_is_compared_by_meaning() -> None:
    call_output = {"type": "function_call_output", "call_id": "c1", "output": "42"}
    assert key({"input": [{"role": "user", "content": ASK}, call_output]}).prompt is None
    assert key({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}).prompt is None
    assert key({"prompt": {"id": "pmpt_1"}}, hosted_tools=True).prompt is None


def test_two_apis_never_share_an_answer() -> None:
    chat = chat_key({"messages": [{"role": "user", "content": ASK}]}, model="gpt-4.1", route="default", tenant="t1")
    assert chat.exact != key({"input": ASK}).exact and chat.context != key({"input": ASK}).context


@pytest.mark.parametrize(("body", "param"), [
    ({"input": 3}, "input"), ({"input": ["text"]}, "input[0]"), ({"input": ASK, "stream": "yes"}, "stream"),
    ({"input": ASK, "tools": {}}, "tools"), ({"input": ASK, "model": ""}, "model"),
    ({"input": ASK, "previous_response_id": 7}, "previous_response_id"), ({"input": ASK, "text": "x"}, "text"),
    ({"input": ASK, "tools": [{"type": {"a": 1}}]}, "tools"), ({"input": ASK, "tools": [{"name": "f"}]}, "tools"),
    # what a hit echoes is what the upstream accepts: a string, metadata's few string values
    ({"input": ASK, "user": [{}, {}]}, "user"), ({"input": ASK, "safety_identifier": 1}, "safety_identifier"),
    ({"input": ASK, "prompt_cache_key": {}}, "prompt_cache_key"), ({"input": ASK, "service_tier": []}, "service_tier"),
    ({"input": ASK, "metadata": {"a": 1}}, "metadata"), ({"input": ASK, "metadata": {str(n): "v" for n in range(17)}},
                                                         "metadata"),
    ({"input": ASK, "temperature": "0.2"}, "temperature"), ({"input": ASK, "top_p": True}, "top_p"),
])
def test_bad_bodies_are_refused_naming_the_field(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read_responses(orjson.dumps(body), {}, default_model="m")
    assert refused.value.param == param


MESSAGE = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": "Redis is an in-memory data store, used as a cache.",
                        "annotations": [], "logprobs": []}]}
CALL = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "search_kb",
        "arguments": '{"query": "what is redis", "limit": 3}', "status": "completed"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"}
ANSWER = {"id": "resp_up", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-4.1",
          "output": [MESSAGE, CALL], "usage": {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14},
          "metadata": {"first": "asker"}, "store": False, "temperature": 1.0, "previous_response_id": None}


def test_what_an_answer_says_and_whether_it_is_whole() -> None:
    reply = RESPONSE_ANSWERS.reply(ANSWER)
    assert reply.text.startswith("Redis is") and reply.calls == (("search_kb", {"query": "what is redis",
                                                                                  "limit": 3}),)
    assert RESPONSE_ANSWERS.complete(ANSWER)
    for broken in ({**ANSWER, "status": "incomplete"}, {**ANSWER, "object": "chat.completion"},
                   {**ANSWER, "output": "x"}, None, {"error": {"message": "x"}}, {**ANSWER, "output": [5]},
                   {**ANSWER, "output": [{**CALL, "arguments": {"q": 1}}]}, {**ANSWER, "output": [{**MESSAGE,
                                                                                             "content": 5}]},
                   {**ANSWER, "output": [{**MESSAGE, "content": [{"type": "output_text", "text": 3}]}]},
                   {**ANSWER, "output": [{**MESSAGE, "content": [{"type": "refusal", "refusal": None}]}]},
                   {**ANSWER, "output": [{**MESSAGE, "content": [{"text": "no type"}]}]},
                   {**ANSWER, "output": [{"id": "no type"}]}, {**ANSWER, "output": [{**CALL, "call_id": 7}]}):
        assert not RESPONSE_ANSWERS.complete(broken)
    assert not RESPONSE_ANSWERS.private(ANSWER)
    assert RESPONSE_ANSWERS.private({**ANSWER, "output": [REASONING, MESSAGE]})
    assert RESPONSE_ANSWERS.private({**ANSWER, "output": [{"type": "compaction", "encrypted_content": "x"}]})


def _request(body: dict):
    return read_responses(orjson.dumps(body), {}, default_model="gpt-4.1")


def test_a_cached_answer_is_served_under_a_fresh_id_echoing_this_request() -> None:
    request = _request({"input": ASK, "metadata": {"mine": "1"}, "temperature": 0.2})
    stored_ids = {**REASONING, "encrypted_content": None}
    served = orjson.loads(request.cached({**ANSWER, "output": [stored_ids, REASONING, *ANSWER["output"]]}))
    assert served["output"][0] == REASONING  # reasoning kept by id upstream is never served: only its account reads it
    served["output"] = served["output"][1:]
    assert served["id"] == request.issue(ANSWER).response["id"] != "resp_up" and served["id"].startswith("resp_")
    assert served["output"] == ANSWER["output"] and served["usage"] == ANSWER["usage"]
    assert (served["metadata"], served["temperature"], served["store"]) == ({"mine": "1"}, 0.2, True)
    assert _request({"input": ASK}).issue(ANSWER).response["id"] != served["id"]


def _events(raw: bytes) -> list[dict]:
    events = sse.SSEParser().feed(raw)
    assert all(event.raw.startswith(b"event: ") for event in events)
    return [orjson.loads(event.data) for event in events]


def test_a_cached_answer_streams_as_the_api_streams_it() -> None:
    events = _events(_request({"input": ASK, "stream": True}).cached(ANSWER))
    kinds = [event["type"] for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed" and kinds.count("response.output_item.done") == 2
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    text = "".join(event["delta"] for event in events if event["type"] == "response.output_text.delta")
    arguments = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert text == MESSAGE["content"][0]["text"] and arguments == CALL["arguments"]
    assert kinds.count("response.output_text.delta") > 1 and events[0]["response"]["output"] == []
    assert events[-1]["response"]["output"] == ANSWER["output"]


def _stream_of(events: list[dict]) -> ResponseStream:
    reading = ResponseStream()
    for event in sse.SSEParser().feed(b"".join(b"event: x\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)):
        assert reading.take(event)
    return reading


def test_a_streamed_answer_is_whole_at_response_completed_only() -> None:
    done = _stream_of([{"type": "response.created", "response": {}, "sequence_number": 0},
                       {"type": "response.completed", "response": ANSWER, "sequence_number": 1}])
    assert done.ended and done.result() == ANSWER
    for end in ("response.failed", "response.incomplete", "error"):
        broken = _stream_of([{"type": "response.created"}, {"type": end, "response": {**ANSWER, "status": "x"}}])
        assert broken.ended and broken.result() is None
    assert not _stream_of([{"type": "response.output_text.delta", "delta": "x"}]).ended
    with pytest.raises(UpstreamProtocolError):
        ResponseStream().take(sse.Event("{not json", b""))
    error = orjson.loads(done.error("broke", status=502, code="upstream_error").split(b"data: ")[1])
    assert error["type"] == "error" and error["sequence_number"] == 2


def _kept_and_read(request, answer: dict, tenant: str = "t1"):
    served = request.issue(answer)
    kept = dict(served.kept_under(tenant))
    names = kept_names(tenant, served.response["id"])
    assert names is not None
    return restored(served.response["id"], kept.get(names[0]), kept.get(names[1]))


LOCAL_SHELL = {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_2", "status": "completed",
               "action": {"type": "exec", "command": ["ls"], "env": {}}}


def test_a_gateway_id_is_written_out_as_its_conversation() -> None:
    first = _request({"input": [{"role": "user", "content": ASK}], "previous_response_id": "resp_upstream"})
    kept = _kept_and_read(first, {**ANSWER, "output": [REASONING, {**REASONING, "encrypted_content": None}, MESSAGE,
                                                         CALL, LOCAL_SHELL]})
    assert kept is not None and kept.response == first.issue(ANSWER).response
    follow = _request({"input": [{"type": "function_call_output", "call_id": "call_1", "output": "42"}],
                       "previous_response_id": kept.response["id"], "instructions": "Be brief."})
    sent = orjson.loads(chained(follow, kept).upstream_body(caching=True))
    assert sent["previous_response_id"] == "resp_upstream" and sent["instructions"] == "Be brief."
    assert sent["input"] == [
        {"role": "user", "content": ASK},
        REASONING,  # with its encrypted content; the one without was never served
        {"role": "assistant", "content": MESSAGE["content"][0]["text"]},
        {"type": "function_call", "call_id": "call_1", "name": "search_kb", "arguments": CALL["arguments"],
         "status": "completed"},
        LOCAL_SHELL,  # as returned: its id and status are required
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ]
    assert chained(follow, kept).previous_id == kept.response["id"]  # what the client named is what it is echoed


def test_what_is_kept_of_one_answer_in_one_conversation_is_kept_once_under_each_id() -> None:
    one, two = _request({"input": ASK}).issue(ANSWER), _request({"input": ASK}).issue(ANSWER)
    assert one.response["id"] != two.response["id"] and one.kept_under("t1") == two.kept_under("t1")
    assert one.kept_under("t1") != _request({"input": ASK, "metadata": {"a": "b"}}).issue(ANSWER).kept_under("t1")
    assert one.kept_under("t1")[0][0] != one.kept_under("t2")[0][0]  # every name is its tenant's
    ids = one.response["id"]
    names = kept_names("t1", ids)
    assert names is not None and restored(ids, one.kept_under("t1")[0][1], None).response == one.response
    assert restored(ids, one.kept_under("t1")[0][1], b"") is None  # deleted
    assert restored(ids, None, None) is None and restored(ids, b"{", None) is None
    assert kept_names("t1", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b") is None  # the upstream's
    assert kept_names("t1", "resp_" + "0" * 5000) is None


def _but_when(served) -> dict:
    return {name: value for name, value in served.response.items() if name not in ("id", "created_at", "completed_at")}


def test_an_answer_issued_from_its_bytes_is_the_one_issued_afresh() -> None:
    """A hit issues its answer from the answer's and the request's bytes, built once for both however often they
    come: what is served and kept must be what building it afresh gives, each request its own echo and input."""
    for body in ({"input": ASK}, {"input": ASK, "metadata": {"a": "b"}, "store": False, "user": "u"},
                 {"input": [{"role": "user", "content": ASK}], "previous_response_id": "resp_upstream"}):
        for raw in (orjson.dumps(ANSWER), _request({**body, "stream": True}).cached(ANSWER)):  # stored; a leader's
            fresh, remembered, again = (_request(body).issue(ANSWER), _request(body).issue(ANSWER, raw),
                                        _request(body).issue(ANSWER, raw))
            assert _but_when(fresh) == _but_when(remembered) == _but_when(again)
            assert fresh.kept_under("t1") == remembered.kept_under("t1") and remembered.input == fresh.input
            assert len({fresh.response["id"], remembered.response["id"], again.response["id"]}) == 3
    earlier = _request({"input": ASK}).issue(ANSWER)
    follow = chained(_request({"input": "And then?", "previous_response_id": earlier.response["id"]}), earlier)
    issued = follow.issue(ANSWER, orjson.dumps(ANSWER))  # what a chained request asked is more than its bytes say
    assert issued.input == [*earlier.conversation(), {"role": "user", "content": "And then?"}]
    assert issued.kept_under("t1") == chained(_request({"input": "And then?", "previous_response_id": earlier.response[
        "id"]}), earlier).issue(ANSWER).kept_under("t1")


def test_what_a_hit_issues_is_remembered_only_for_small_pairs() -> None:
    """The memo of `issuable` holds recent small (answer, request) pairs: whatever a client sends (long
    conversations, thousands of tiny values), what it holds stays bounded."""
    remembered_issuable.cache_clear()
    raw = orjson.dumps(ANSWER)
    for _ in range(3):
        _request({"input": ASK}).issue(ANSWER, raw)
    assert remembered_issuable.cache_info()[:2] == (2, 1)  # hits, misses: built once
    many_values = {"input": [{"role": "user", "content": "a"}] * 200}  # 200 items: a few KB, but 400 values parsed
    nested = {"input": [{"role": "user", "content": "a", "x": [[[[[[[[[[[[]]]]]]]]]]]]} for _ in range(30)]}
    long = {"input": "x" * (16 << 10)}
    for body in (many_values, nested, long):
        assert _request(body).issue(ANSWER, raw).kept_under("t1") == _request(body).issue(ANSWER).kept_under("t1")
    assert remembered_issuable.cache_info().currsize == 1


def test_the_answer_a_leaders_body_holds() -> None:
    assert answer_in(orjson.dumps(ANSWER)) == ANSWER
    streamed = _request({"input": ASK, "stream": True}).cached(ANSWER)
    assert answer_in(streamed)["output"] == ANSWER["output"]
    for nothing in (b"", b"{", orjson.dumps({"error": {}}), b"event: error\ndata: {\"type\": \"error\"}\n\n"):
        assert answer_in(nothing) is None


def test_the_input_items_of_a_gateway_id() -> None:
    kept = _request({"input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}).issue(ANSWER)
    listed = input_items(kept)
    assert [item["content"] for item in listed["data"]] == [[{"type": "input_text", "text": "b"}],
                                                            [{"type": "input_text", "text": "a"}]]
    assert listed["has_more"] is False and listed["data"][0]["type"] == "message"


@pytest.mark.parametrize(("extra", "private"), [
    ({}, False),
    ({"include": ["message.output_text.logprobs"]}, False),
    ({"include": ["reasoning.encrypted_content"]}, True),  # readable by its account only
])
def test_asking_for_encrypted_content_makes_an_answer_possibly_private(extra: dict, private: bool) -> None:
    body = {"model": "m", "input": "Hi", **extra}
    assert read_responses(orjson.dumps(body), {}, default_model="m").may_be_private is private
