"""What `/v1/messages` sends to Anthropic and says back when things go wrong: the client's headers and credential
as sent, the server's `ANTHROPIC_API_KEY` as `x-api-key` (with gateway keys too), token counts forwarded untouched,
and every failure, the upstream's own or the gateway's (bad input, refused keys, an upstream unreachable, silent,
broken off or answering garbage), in Anthropic's error shape, whole or as an `event: error`, never cached."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.anthropic_clients import BODY, claude, message, post, streamed
from tests.support.clients import PARAPHRASE
from tests.support.fake_upstream import COUNT_TOKENS_PATH, MESSAGES_PATH, anthropic_error
from tests.support.redis_server import free_port

SERVER_KEY = "sk-ant-server-key"


def is_anthropic_error(payload: dict, kind: str) -> bool:
    return set(payload) == {"type", "error"} and payload["type"] == "error" and payload["error"]["type"] == kind \
        and set(payload["error"]) == {"type", "message"}


def test_the_clients_request_goes_upstream_as_sent(gateway, fake_upstream) -> None:
    post(gateway, x_api_key="sk-ant-one", anthropic_beta="tools-2024-05-16", x_route="support",
         cache_control="no-store")
    sent = fake_upstream.last(MESSAGES_PATH)
    assert sent.json == BODY and sent.headers["x-api-key"] == "sk-ant-one"
    assert sent.headers["anthropic-version"] == "2023-06-01" and sent.headers["anthropic-beta"] == "tools-2024-05-16"
    assert "authorization" not in sent.headers and "x-route" not in sent.headers and "cache-control" not in sent.headers


def test_a_caller_without_a_key_is_sent_with_anthropic_api_key(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ANTHROPIC_API_KEY=SERVER_KEY)
    assert post(gateway).status_code == 200
    sent = fake_upstream.last(MESSAGES_PATH)
    assert sent.headers["x-api-key"] == SERVER_KEY and "authorization" not in sent.headers  # nor OPENAI_API_KEY


def test_gateway_keys_reach_anthropic_with_its_key_and_are_refused_in_its_shape(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ANTHROPIC_API_KEY=SERVER_KEY,
                           GATEWAY_API_KEYS='{"gw-a": "sk-openai-of-a", "gw-b": null}')
    for key in ("gw-a", "gw-b"):  # a key's own upstream key is for the OpenAI upstream: never sent to Anthropic
        assert message(gateway, key=key)[0] == "miss"
        sent = fake_upstream.last(MESSAGES_PATH)
        assert sent.headers["x-api-key"] == SERVER_KEY and "authorization" not in sent.headers
    claude(gateway, "gw-a").messages.count_tokens(model=BODY["model"], messages=BODY["messages"])
    assert fake_upstream.last(COUNT_TOKENS_PATH).headers["x-api-key"] == SERVER_KEY
    with pytest.raises(anthropic.AuthenticationError) as caught:
        message(gateway, key="sk-ant-not-a-gateway-key")
    assert is_anthropic_error(caught.value.body, "authentication_error")
    assert fake_upstream.calls(MESSAGES_PATH) == 2


def test_a_page_in_a_browser_is_refused_in_anthropics_shape(gateway, fake_upstream) -> None:
    response = post(gateway, x_api_key="sk-ant-one", origin="https://evil.example")
    assert response.status_code == 403 and is_anthropic_error(response.json(), "permission_error")
    assert fake_upstream.calls(MESSAGES_PATH) == 0


def test_count_tokens_is_forwarded_untouched_and_never_cached(gateway, fake_upstream) -> None:
    sdk = claude(gateway)
    for _ in range(2):
        raw = sdk.messages.with_raw_response.count_tokens(model=BODY["model"], messages=BODY["messages"],
                                                          system="Be terse.")
        assert raw.parse().input_tokens == 6 and raw.headers["x-fake-count"] == "1" and "x-cache" not in raw.headers
    sent = fake_upstream.last(COUNT_TOKENS_PATH)
    assert sent.json == {"model": BODY["model"], "messages": BODY["messages"], "system": "Be terse."}
    assert sent.headers["authorization"] == "Bearer sk-ant-client-one"
    assert fake_upstream.calls(COUNT_TOKENS_PATH) == 2 and fake_upstream.calls(MESSAGES_PATH) == 0


@pytest.mark.parametrize("is_streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("status", "kind"), [(400, "invalid_request_error"), (429, "rate_limit_error"),
                                              (500, "api_error"), (529, "overloaded_error")])
def test_upstream_errors_pass_through_in_anthropics_shape_and_are_never_cached(gateway, fake_upstream, status: int,
                                                                               kind: str, is_streamed: bool) -> None:
    fake_upstream.fail_next(status, headers={"retry-after": "7", "request-id": "req_fault"}, path=MESSAGES_PATH)
    with pytest.raises(anthropic.APIStatusError) as caught:
        (streamed if is_streamed else message)(gateway)
    assert caught.value.status_code == status and caught.value.response.headers["retry-after"] == "7"
    assert caught.value.request_id == "req_fault" and is_anthropic_error(caught.value.body, kind)
    gateway.drain()
    assert message(gateway)[0] == "miss"
    assert streamed(gateway)[0] == "hit"


REFUSED = [
    ({k: v for k, v in BODY.items() if k != "max_tokens"}, {}, "max_tokens: Field required"),
    ({**BODY, "messages": [{"role": "system", "content": "x"}]}, {}, "messages.0.role: Input should be"),
    (b'{"model": "claude", ', {}, "We could not parse the JSON body"),
    (b"[]", {}, "The request body must be a JSON object"),
    (BODY, {"x_cache_ttl": "soon"}, "Invalid header 'x-cache-ttl'"),
]


@pytest.mark.parametrize(("body", "headers", "message_start"), REFUSED)
def test_bad_requests_are_400_in_anthropics_shape(gateway, fake_upstream, body, headers: dict,
                                                  message_start: str) -> None:
    response = post(gateway, body, x_api_key="sk-ant-one", **headers)
    assert response.status_code == 400 and is_anthropic_error(response.json(), "invalid_request_error")
    assert response.json()["error"]["message"].startswith(message_start)
    assert fake_upstream.calls(MESSAGES_PATH) == 0


def test_the_sdk_raises_its_own_error_for_a_refused_body(gateway, fake_upstream) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        message(gateway, max_tokens=0)
    assert caught.value.body["error"]["message"].startswith("max_tokens: Input should be")


@pytest.mark.parametrize("is_streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("fault", "status", "kind"), [("unreachable", 502, "api_error"),
                                                        ("silent", 504, "timeout_error")])
def test_an_unreachable_or_silent_upstream_is_a_gateway_error_in_anthropics_shape(
        make_gateway, fake_upstream, fault: str, status: int, kind: str, is_streamed: bool) -> None:
    if fault == "unreachable":
        gateway = make_gateway("memory", ANTHROPIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    else:
        gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.3")
        fake_upstream.delay_next(3.0, path=MESSAGES_PATH)
    with pytest.raises(anthropic.APIStatusError) as caught:
        (streamed if is_streamed else message)(gateway)
    assert caught.value.status_code == status and is_anthropic_error(caught.value.body, kind)


def events_of(raw: bytes) -> list[tuple[str, dict]]:
    """(name, payload) of each event of an SSE body."""
    blocks = [block.splitlines() for block in raw.decode().split("\n\n") if block.strip()]
    return [(lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))) for lines in blocks]


def streamed_raw(gateway) -> list[tuple[str, dict]]:
    response = post(gateway, {**BODY, "stream": True}, x_api_key="sk-ant-client-one")
    assert response.status_code == 200  # the stream had started: what went wrong is its last event
    return events_of(response.content)


@pytest.mark.parametrize(("fault", "kind"), [("break", "api_error"), ("stall", "timeout_error"),
                                             ("garbage", "api_error")])
def test_a_stream_that_breaks_off_ends_with_an_anthropic_error_event_and_stores_nothing(
        make_gateway, fake_upstream, fault: str, kind: str) -> None:
    gateway = make_gateway("memory", UPSTREAM_TIMEOUT_SECS="0.5")
    if fault == "break":
        fake_upstream.break_stream_next(after_events=4, path=MESSAGES_PATH)
    elif fault == "stall":
        fake_upstream.chunk_delay = 2.0
    else:
        fake_upstream.events_next([b"event: message_start\ndata: {not json\n\n"], path=MESSAGES_PATH)
    events = streamed_raw(gateway)
    fake_upstream.chunk_delay = 0
    assert events[-1][0] == "error" and is_anthropic_error(events[-1][1], kind)
    assert message(gateway)[0] == "miss"


def test_the_sdk_raises_a_stream_that_broke_off_as_its_error(gateway, fake_upstream) -> None:
    fake_upstream.break_stream_next(after_events=4, path=MESSAGES_PATH)
    with pytest.raises(anthropic.APIStatusError) as caught:
        streamed(gateway, PARAPHRASE)
    assert is_anthropic_error(caught.value.body, "api_error") and "broke off" in caught.value.body["error"]["message"]


def test_an_upstream_error_event_is_relayed_and_nothing_stored(gateway, fake_upstream) -> None:
    overloaded = anthropic_error("Overloaded", "overloaded_error")
    start = {"type": "message_start", "message": {
        "id": "msg_x", "type": "message", "role": "assistant", "model": BODY["model"], "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 6, "output_tokens": 1}}}
    fake_upstream.events_next([f"event: message_start\ndata: {json.dumps(start)}\n\n".encode(),
                               f"event: error\ndata: {json.dumps(overloaded)}\n\n".encode()], path=MESSAGES_PATH)
    assert [name for name, _ in streamed_raw(gateway)] == ["message_start", "error"]
    assert message(gateway)[0] == "miss"


def test_an_answer_that_is_not_json_is_a_502_in_anthropics_shape(gateway, fake_upstream) -> None:
    fake_upstream.malformed_next("json", path=MESSAGES_PATH)
    response = post(gateway, x_api_key="sk-ant-one")
    assert response.status_code == 502 and is_anthropic_error(response.json(), "api_error")
    assert post(gateway, x_api_key="sk-ant-one").headers["x-cache"] == "miss"


def test_a_remote_embedder_is_never_sent_the_callers_anthropic_key(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", EMBED_PROVIDER="openai")
    message(gateway, "some question", key="sk-ant-secret")
    assert fake_upstream.last("/v1/embeddings").headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not any("sk-ant-secret" in str(request.headers) for request in fake_upstream.requests
                   if request.path != MESSAGES_PATH)
    state, headers, _ = message(gateway, "some questions", key="sk-ant-secret", headers={"x-cache-threshold": "2"})
    assert state == "hit" and headers["x-cache-layer"] == "semantic"


def test_health_shows_the_anthropic_upstream(gateway) -> None:
    state = httpx.get(f"{gateway.url}/healthz").json()
    assert state["status"] == "ok" and state["anthropic"]["open"] is True
    assert state["anthropic"]["base_url"] == gateway.settings.anthropic_base_url


def test_every_other_messages_path_is_anthropics(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ANTHROPIC_API_KEY=SERVER_KEY)
    batches = httpx.post(f"{gateway.url}/v1/messages/batches", json={"requests": []},
                         headers={"anthropic-version": "2023-06-01"})
    assert batches.status_code == 200 and fake_upstream.last("/v1/messages/batches").headers["x-api-key"] == SERVER_KEY
    odd = httpx.get(f"{gateway.url}/v1/messages/batches/a%2F..%2Fb", headers={"anthropic-version": "2023-06-01"})
    assert odd.status_code == 404 and is_anthropic_error(odd.json(), "not_found_error")
    keyed = make_gateway("memory", ANTHROPIC_API_KEY=SERVER_KEY, GATEWAY_API_KEYS="gw-a")
    refused = httpx.get(f"{keyed.url}/v1/messages/batches", headers={"x-api-key": "gw-a"})
    assert refused.status_code == 403 and is_anthropic_error(refused.json(), "permission_error")
