"""Anthropic Messages requests as the gateway reads them, on tables: which requests share a key and which never do
(every field in scope but the neutral ones, `cache_control` markers nowhere, the version and betas asked for), what
the prompt is, and what is refused, in Anthropic's wording."""

from __future__ import annotations

import orjson
import pytest
from starlette.datastructures import Headers

from gateway.errors import InvalidRequest
from gateway.wire.canonical import chat_key
from gateway.wire.messages import messages_key, read_messages, scope_headers

ASK = {"role": "user", "content": "What is Redis?"}
BASE = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [ASK]}
VERSION = {"anthropic-version": "2023-06-01", "anthropic-beta": []}
TOOL = {"name": "lookup", "description": "Look it up.", "input_schema": {"type": "object"}}
MARK = {"type": "ephemeral"}


def key(change: dict | None = None, *, headers: dict | None = None, tenant: str = "t1", route: str = "default"):
    return messages_key({**BASE, **(change or {})}, headers or VERSION, route=route, tenant=tenant)


SAME_EXACT = [
    # sampling, streaming and bookkeeping do not change which answer is right
    {"temperature": 0.2, "top_p": 0.9, "stream": True, "metadata": {"user_id": "u1"}, "service_tier": "auto"},
    # one text block is its text; explicit nulls are absent
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is Redis?"}]}], "system": None},
    # cache_control says what Anthropic's prompt cache keeps, wherever it is put
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is Redis?", "cache_control": MARK}]}]},
    {"cache_control": MARK},
]


@pytest.mark.parametrize("change", SAME_EXACT)
def test_equivalent_requests_share_the_exact_key(change: dict) -> None:
    assert key(change).exact == key().exact


MARKED_PAIRS = [
    ({"system": [{"type": "text", "text": "Be terse.", "cache_control": MARK}]}, {"system": "Be terse."}),
    ({"tools": [{**TOOL, "cache_control": MARK}]}, {"tools": [TOOL]}),
    ({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42", "cache_control": MARK}],
         "cache_control": MARK}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]}]}]}),
]


@pytest.mark.parametrize(("marked", "plain"), MARKED_PAIRS)
def test_cache_control_markers_are_neutral_in_system_tools_and_tool_results(marked: dict, plain: dict) -> None:
    assert key(marked).exact == key(plain).exact


SCOPED = [
    {"system": "Answer in French."},
    {"messages": [{"role": "user", "content": "I use Gmail."}, {"role": "assistant", "content": "OK."}, ASK]},
    {"tools": [TOOL]},
    {"tools": [TOOL], "tool_choice": {"type": "any"}},
    {"max_tokens": 5},
    {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    {"stop_sequences": ["\n\n"]},
    {"top_k": 1},
    {"some_future_parameter": True},
    # a property named like the marker inside a tool's schema is the schema, not a marker
    {"tools": [{**TOOL, "input_schema": {"type": "object", "properties": {"cache_control": {"type": "string"}}}}]},
]


@pytest.mark.parametrize("change", SCOPED)
def test_every_other_field_partitions_the_context(change: dict) -> None:
    assert key(change).context != key().context


@pytest.mark.parametrize("headers", [
    {"anthropic-version": "2023-01-01", "anthropic-beta": []},
    {"anthropic-version": "2023-06-01", "anthropic-beta": ["output-128k-2025-02-19"]},
])
def test_the_version_and_the_betas_asked_for_partition_the_context(headers: dict) -> None:
    assert key(headers=headers).context != key().context


def test_betas_are_one_set_in_any_order_over_any_number_of_headers() -> None:
    version = (b"anthropic-version", b"2023-06-01")
    one = Headers(raw=[(b"anthropic-beta", b"b-2, a-1"), version])
    two = Headers(raw=[(b"anthropic-beta", b"a-1"), (b"anthropic-beta", b" b-2,"), version])
    assert scope_headers(one) == scope_headers(two) == {"anthropic-version": "2023-06-01",
                                                        "anthropic-beta": ["a-1", "b-2"]}


def test_tenants_routes_models_and_apis_never_share_a_key() -> None:
    base = key()
    assert key(tenant="t2").context != base.context and key(route="faq").context != base.context
    assert key({"model": "claude-haiku-4-5"}).context != base.context
    chat = chat_key({"messages": [ASK], "max_tokens": 256}, model=BASE["model"], route="default", tenant="t1")
    assert chat.context != base.context and chat.answers.kind != base.answers.kind == "messages"


def test_the_prompt_is_the_final_user_text_and_the_context_excludes_it() -> None:
    paraphrase = key({"messages": [{"role": "user", "content": "Explain Redis"}]})
    assert key().prompt == "What is Redis?" and paraphrase.context == key().context
    assert paraphrase.exact != key().exact
    joined = key({"messages": [{"role": "user", "content": [{"type": "text", "text": "What is"},
                                                            {"type": "text", "text": "Redis?"}]}]})
    assert joined.prompt == "What is\nRedis?" and joined.context == key().context


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
EXACT_ONLY = [
    [{"role": "user", "content": [IMAGE, {"type": "text", "text": "What is this?"}]}],
    [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}],
    [ASK, {"role": "assistant", "content": "Redis is"}],  # a prefill continues the assistant's turn
    [{"role": "user", "content": [{"type": "text", "text": "What is Redis?", "citations": None, "extra": 1}]}],
]


@pytest.mark.parametrize("messages", EXACT_ONLY)
def test_anything_but_a_user_s_plain_text_last_is_served_by_the_exact_layer_only(messages: list) -> None:
    assert key({"messages": messages}).prompt is None


REFUSED = [
    ({"max_tokens": 5, "messages": [ASK]}, "model: Field required"),
    ({"model": "claude-sonnet-4-5", "messages": [ASK]}, "max_tokens: Field required"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 5}, "messages: Field required"),
    ({**BASE, "max_tokens": 0}, "max_tokens: Input should be an integer of at least 1"),
    ({**BASE, "max_tokens": True}, "max_tokens: Input should be an integer of at least 1"),
    ({**BASE, "model": ""}, "model: Input should be a non-empty string"),
    ({**BASE, "messages": []}, "messages: List should have 1 to"),
    ({**BASE, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role: Input should be 'user' or"),
    ({**BASE, "messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ({**BASE, "messages": [{"role": "user", "content": 5}]}, "messages.0.content: Input should be a valid string"),
    ({**BASE, "messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages.0.content.0: Input should be"),
    ({**BASE, "system": [{"type": "image"}]}, "system.0: Input should be a text block"),
    ({**BASE, "stream": "yes"}, "stream: Input should be a valid boolean"),
    ({**BASE, "tools": {"name": "x"}}, "tools: Input should be a valid list"),
    ({**BASE, "tool_choice": "auto"}, "tool_choice: Input should be a valid object"),
    ({**BASE, "stop_sequences": "END"}, "stop_sequences: Input should be a valid list of strings"),
    ({**BASE, "temperature": "hot"}, "temperature: Input should be a valid number"),
    ({**BASE, "top_k": 1.5}, "top_k: Input should be a valid integer"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED)
def test_bodies_anthropic_would_refuse_are_refused_in_its_wording(body: dict, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        read_messages(orjson.dumps(body), Headers())
    assert caught.value.message.startswith(message) and caught.value.status == 400


def test_a_request_is_read_with_its_controls_and_headers_in_scope() -> None:
    request = read_messages(orjson.dumps({**BASE, "stream": True}), Headers(raw=[
        (b"x-route", b"support"), (b"anthropic-version", b"2023-06-01"), (b"cache-control", b"no-store")]))
    assert request.stream and request.model == BASE["model"] and request.variant == (b"sse",)
    assert request.controls.route == "support" and not request.controls.store
    assert request.key("t1") == key({"stream": True}, route="support")
    assert request.upstream_body(caching=True) == orjson.dumps({**BASE, "stream": True})


@pytest.mark.parametrize("extra", [
    {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]},
    {"tools": [{"name": "kb", "input_schema": {"type": "object"}}, {"type": "web_fetch_20250910", "name": "f"}]},
    {"tools": [{"type": "code_execution_20250825", "name": "code_execution"}]},
    {"mcp_servers": [{"type": "url", "url": "https://example.com/sse", "name": "x"}]},
    {"container": "container_1"},
])
def test_tools_anthropic_runs_bypass_unless_the_route_opts_in(extra: dict) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "News?"}], **extra}
    headers = Headers({"anthropic-version": "2023-06-01"})
    assert read_messages(orjson.dumps(body), headers).key("t1") is None
    routed = Headers({"anthropic-version": "2023-06-01", "x-route": "news"})
    assert read_messages(orjson.dumps(body), routed, hosted_tool_routes=frozenset({"news"})).key("t1") is not None


def test_tools_the_client_runs_are_cached() -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "ls?"}],
            "tools": [{"type": "bash_20250124", "name": "bash"}, {"name": "kb", "input_schema": {"type": "object"}}]}
    assert read_messages(orjson.dumps(body), Headers({"anthropic-version": "2023-06-01"})).key("t1") is not None


@pytest.mark.parametrize(("thinking", "private"), [
    (None, False),
    ({"type": "disabled"}, False),
    ({"type": "enabled", "budget_tokens": 1024}, True),  # signed thinking: only its tenant's
])
def test_thinking_makes_an_answer_possibly_private(thinking: dict | None, private: bool) -> None:
    body = BASE if thinking is None else {**BASE, "thinking": thinking}
    assert read_messages(orjson.dumps(body), Headers()).may_be_private is private
