"""`POST /chat`, the original design's interface, against a served gateway on both stores: its own curl example
(a miss, then `cached: true` with a tiny `hit_distance`), paraphrases, routes from the body, the same tenants,
gateway keys, events and error shapes as the chat path it is an alias of."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import PARAPHRASE, PROMPT
from tests.support.events import events_of, served

URL = "/chat"


def seed(gateway, content: str = PROMPT, *, key: str | None = None, **fields):
    body = {"user": "u1", "model": "gpt-4o-mini", "route": "default",
            "messages": [{"role": "user", "content": content}], **fields}
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(gateway.url + URL, json=body, headers=headers, timeout=30)
    gateway.drain()
    return response


def test_the_seed_curl_example_is_a_miss_then_cached_with_a_tiny_distance(make_gateway, fake_upstream,
                                                                           store_kind) -> None:
    gateway = served(make_gateway, store_kind)
    first = seed(gateway)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["cached"], answer["hit_distance"], answer["layer"], answer["route"]) == (
        False, None, None, "default")
    assert PROMPT in answer["answer"] and answer["usage"]["total_tokens"] > 0
    again = seed(gateway)
    assert (again.json()["cached"], again.json()["hit_distance"], again.json()["layer"]) == (True, 0.0, "exact")
    assert again.json()["answer"] == answer["answer"] and again.headers["x-cache"] == "hit"
    near = seed(gateway, PARAPHRASE).json()
    assert near["cached"] and near["layer"] == "semantic" and 0 < near["hit_distance"] <= 0.2
    assert fake_upstream.calls() == 1
    # the same entries as the chat path: its request, asked in the other shape, is a hit too
    chat = httpx.post(gateway.base_url + "/chat/completions", timeout=30, json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}], "user": "someone"})
    assert chat.headers["x-cache"] == "hit"
    assert [event.event for event in events_of(gateway)] == ["chat"] * 4


def test_the_route_in_the_body_scopes_and_the_key_names_the_tenant(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    seed(gateway)
    assert seed(gateway, route="support").json()["cached"] is False  # another route: its own entries
    assert seed(gateway, key="sk-tenant-two").json()["cached"] is False  # another tenant: its own entries
    assert seed(gateway, user="u2").json()["cached"] is True  # `user` is neutral, as for chat completions
    assert fake_upstream.calls() == 3
    sent = fake_upstream.last().json
    assert sent["messages"] == [{"role": "user", "content": PROMPT}] and "route" not in sent


def test_gateway_keys_guard_it_like_the_v1_api(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice")
    refused = seed(gateway)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert fake_upstream.calls() == 0
    assert seed(gateway, key="gw-alice").status_code == 200
    assert fake_upstream.last().headers["authorization"] != "Bearer gw-alice"
    # only /chat itself: a client that left /v1 out of its base URL gets a plain 404, whatever its key
    for key in (None, "gw-alice"):
        lost = httpx.post(gateway.url + "/chat/completions", json={}, timeout=30,
                          headers={"authorization": f"Bearer {key}"} if key else {})
        assert lost.status_code == 404 and lost.json()["error"]["code"] == "unknown_url"


@pytest.mark.parametrize(("fields", "param"), [
    ({"stream": True}, "stream"), ({"route": "no spaces"}, "route"), ({"route": 7}, "route"),
    ({"user": ["u1"]}, "user"), ({"model": 4}, "model"), ({"messages": "hi"}, "messages")])
def test_a_body_it_does_not_take_is_a_400_naming_the_field(make_gateway, fake_upstream, fields, param) -> None:
    gateway = make_gateway("memory")
    response = seed(gateway, **fields)
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    assert fake_upstream.calls() == 0


def test_upstream_errors_pass_through_in_openai_shape_and_are_not_cached(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    fake_upstream.fail_next(429)
    limited = seed(gateway)
    assert limited.status_code == 429 and "error" in limited.json()
    assert seed(gateway).json()["cached"] is False


def test_web_pages_may_not_call_it_unless_their_origin_is_allowed(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    body = {"messages": [{"role": "user", "content": PROMPT}]}
    page = httpx.post(gateway.url + URL, json=body, headers={"origin": "http://evil.example"}, timeout=30)
    assert page.status_code == 403 and page.json()["error"]["code"] == "origin_not_allowed"
    assert fake_upstream.calls() == 0
