"""Gateway access keys and the admin endpoints, as an operator and an attacker meet them."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import PARAPHRASE, PROMPT, ask

ADMIN = "admin-token-for-tests"


def admin(gateway, method: str, path: str, token: str | None = ADMIN, **kwargs) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.request(method, f"{gateway.url}{path}", headers=headers, **kwargs)


def test_gateway_keys_admit_only_their_own_and_keep_the_upstream_key_server_side(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice, gw-bob")
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(gateway, key="sk-unknown")
    assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
    assert httpx.get(f"{gateway.base_url}/models").status_code == 401  # no key at all
    assert fake_upstream.calls() == 0
    assert ask(gateway, key="gw-alice")[0] == "miss"
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert ask(gateway, PARAPHRASE, key="gw-alice")[0] == "hit"
    assert ask(gateway, key="gw-bob")[0] == "miss"  # each gateway key is its own tenant
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200  # health needs no key


def test_admin_endpoints_do_not_exist_without_a_token(gateway) -> None:
    for method, path in (("POST", "/admin/flush"), ("GET", "/admin/stats"), ("DELETE", "/admin/entries/x")):
        assert admin(gateway, method, path).status_code == 404


@pytest.fixture
def admin_gateway(make_gateway, store_kind):
    return make_gateway(store_kind, ADMIN_TOKEN=ADMIN)


@pytest.mark.parametrize("token", ["wrong", None])
def test_admin_endpoints_refuse_other_tokens(admin_gateway, token: str | None) -> None:
    response = admin(admin_gateway, "GET", "/admin/stats", token=token)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_admin_token"


def test_admin_flushes_a_route_a_tenant_or_everything(admin_gateway, fake_upstream) -> None:
    ask(admin_gateway, key="sk-one")
    ask(admin_gateway, key="sk-one", headers={"x-route": "support"})
    ask(admin_gateway, key="sk-two")
    flushed = admin(admin_gateway, "POST", "/admin/flush", json={"route": "support"})
    assert flushed.json() == {"deleted": 1}
    assert ask(admin_gateway, key="sk-one", headers={"x-route": "support"})[0] == "miss"
    assert admin(admin_gateway, "POST", "/admin/flush", json={"tenant_key": "sk-two"}).json() == {"deleted": 1}
    assert ask(admin_gateway, key="sk-two")[0] == "miss"
    assert ask(admin_gateway, key="sk-one")[0] == "hit"
    assert admin(admin_gateway, "POST", "/admin/flush", json={"all": True}).json()["deleted"] == 3
    assert ask(admin_gateway, key="sk-one")[0] == "miss"


@pytest.mark.parametrize("body", [{}, {"route": ""}, {"route": 5}, {"everything": True}, {"all": "yes"}])
def test_admin_flush_rejects_unclear_requests(admin_gateway, body: dict) -> None:
    response = admin(admin_gateway, "POST", "/admin/flush", json=body)
    assert response.status_code == 400 and "error" in response.json()


def test_admin_deletes_one_entry(admin_gateway, fake_upstream) -> None:
    ask(admin_gateway)
    entry = ask(admin_gateway)[1]["x-cache-key"]
    assert admin(admin_gateway, "DELETE", f"/admin/entries/{entry}").status_code == 204
    assert ask(admin_gateway, PROMPT)[0] == "miss"
    assert admin(admin_gateway, "DELETE", "/admin/entries/nope").status_code == 404


def test_admin_stats_show_state_without_secrets(admin_gateway) -> None:
    ask(admin_gateway)
    stats = admin(admin_gateway, "GET", "/admin/stats")
    assert stats.status_code == 200
    assert stats.json()["store"]["backend"] in {"memory", "redis"} and stats.json()["policy"]["threshold"] > 0
    assert stats.json()["routes"] == {}  # nothing judged yet
    assert ADMIN not in stats.text and UPSTREAM_KEY not in stats.text
