"""A web page cannot use a gateway that holds OPENAI_API_KEY: not by a form post (no preflight), not by a preflight
passed upstream, not after re-pointing its own name at 127.0.0.1 (DNS rebinding), unless ALLOWED_ORIGINS names it."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/v1/chat/completions", {"origin": "https://evil.example", "content-type": "text/plain"}),
    ("POST", "/v1/chat/completions", {"origin": "null"}),
    ("GET", "/v1/files", {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"}),  # a re-pointed name
    ("GET", "/v1/models", {"sec-fetch-mode": "navigate", "sec-fetch-site": "cross-site"}),
    ("OPTIONS", "/v1/files/file-1", {"origin": "https://evil.example", "access-control-request-method": "DELETE"}),
    ("POST", "/admin/flush", {"origin": "https://evil.example"}),
])
def test_requests_a_browser_sends_for_a_page_are_refused(make_gateway, fake_upstream, method, path, headers) -> None:
    gateway = make_gateway("memory", ADMIN_TOKEN="adm")
    response = httpx.request(method, gateway.url + path, headers=headers, json=CHAT if method == "POST" else None)
    assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    assert fake_upstream.requests == []


def test_sdks_and_the_dashboard_are_unaffected(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="sk-own", max_retries=0)
    assert sdk.chat.completions.create(**CHAT).choices
    same_origin = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"}
    page = httpx.get(f"{gateway.url}/dashboard/data", headers=same_origin)
    assert page.status_code == 200


def test_an_allowed_origin_gets_cors_and_its_preflight_is_answered_here(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", ALLOWED_ORIGINS="https://app.example")
    preflight = httpx.options(f"{gateway.base_url}/chat/completions", headers={
        "origin": "https://app.example", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 204 and fake_upstream.requests == []
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    answer = httpx.post(f"{gateway.base_url}/chat/completions", json=CHAT, headers={"origin": "https://app.example"})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-cache" in answer.headers["access-control-expose-headers"]
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    other = httpx.post(f"{gateway.base_url}/chat/completions", json=CHAT, headers={"origin": "https://evil.example"})
    assert other.status_code == 403
