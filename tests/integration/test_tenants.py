"""Each caller is its own tenant, whatever form its credential takes, and gateway keys that share one upstream
account cannot reach each other's stored resources through it (a served gateway, raw HTTP clients)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.support.clients import ask

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How do I reset my password?"}]}


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.body = status, headers, body

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


def post(gateway, headers: dict[str, str], body: dict = BODY) -> Answer:
    """http.client, unlike httpx, sends header values as given (`Bearer ` with its trailing space)."""
    connection = http.client.HTTPConnection(urlsplit(gateway.url).netloc, timeout=10)
    try:
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body),
                           headers={"content-type": "application/json", **headers})
        response = connection.getresponse()
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
    gateway.drain()
    return answer


def test_every_credential_form_is_its_own_tenant(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind)
    forms = [{"authorization": "Basic dXNlcjpvbmU="}, {"authorization": "Basic dXNlcjp0d28="},
             {"api-key": "azure-one"}, {"api-key": "azure-two"}, {"x-api-key": "anthropic-one"},
             {"authorization": "Bearer\tsk-one"}, {"authorization": "Token sk-one"}, {},
             {"authorization": f"Bearer {UPSTREAM_KEY}"}]  # the server's own key, sent: not the anonymous tenant
    states = [post(gateway, headers).headers["x-cache"] for headers in forms]
    assert states == ["miss"] * len(forms)
    assert fake_upstream.calls() == len(forms)
    again = [post(gateway, headers).headers["x-cache"] for headers in forms]
    assert again == ["hit"] * len(forms)  # each form finds its own entry again


def test_one_key_sent_as_bearer_or_api_key_is_one_tenant(gateway) -> None:
    assert post(gateway, {"authorization": "Bearer sk-same"}).headers["x-cache"] == "miss"
    assert post(gateway, {"api-key": "sk-same"}).headers["x-cache"] == "hit"
    assert post(gateway, {"x-api-key": "sk-same"}).headers["x-cache"] == "hit"


def test_callers_without_a_credential_share_one_tenant_and_the_configured_key(gateway, fake_upstream) -> None:
    assert post(gateway, {}).headers["x-cache"] == "miss"
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert post(gateway, {}).headers["x-cache"] == "hit"


@pytest.mark.parametrize("empty", [{"authorization": "Bearer "}, {"authorization": ""}, {"api-key": ""},
                                   {"authorization": "Bearer ", "x-api-key": " "}])
def test_an_empty_credential_is_no_credential(gateway, fake_upstream, empty: dict[str, str]) -> None:
    assert post(gateway, empty).status_code == 200
    forwarded = fake_upstream.last().headers
    assert forwarded["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "api-key" not in forwarded and "x-api-key" not in forwarded
    assert post(gateway, {}).headers["x-cache"] == "hit"  # the anonymous tenant's entry


def test_a_client_credential_of_another_form_is_forwarded_as_sent(gateway, fake_upstream) -> None:
    post(gateway, {"api-key": "azure-key"})
    forwarded = fake_upstream.last().headers
    assert forwarded["api-key"] == "azure-key" and "authorization" not in forwarded  # no server key added


# ---- gateway keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {"authorization": "Bearer "}, {"authorization": "Basic Z3ctYWxpY2U6"}, {"authorization": "Token gw-alice"},
    {"authorization": "Bearer\tgw-alice"}, {"authorization": "Bearer gw-alice", "x-api-key": "gw-bob"}, {},
])
def test_gateway_keys_refuse_every_other_credential_form(make_gateway, fake_upstream, headers) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice,gw-bob")
    response = post(gateway, headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert fake_upstream.calls() == 0


def test_a_gateway_key_is_admitted_in_each_key_header(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice")
    assert post(gateway, {"authorization": "Bearer gw-alice"}).headers["x-cache"] == "miss"
    for headers in ({"x-api-key": "gw-alice"}, {"api-key": "gw-alice"}):
        assert post(gateway, headers).headers["x-cache"] == "hit"
    forwarded = fake_upstream.last().headers
    assert forwarded["authorization"] == f"Bearer {UPSTREAM_KEY}" and "gw-alice" not in json.dumps(forwarded)


ACCOUNT_WIDE = [("GET", "/files"), ("GET", "/files/file-abc/content"), ("DELETE", "/files/file-abc"),
                ("POST", "/files"), ("GET", "/chat/completions"), ("GET", "/chat/completions/chatcmpl-1"),
                ("DELETE", "/chat/completions/chatcmpl-1"), ("GET", "/batches"), ("POST", "/uploads"),
                ("GET", "/vector_stores"), ("GET", "/assistants"), ("POST", "/threads"),
                ("GET", "/responses/resp_1"), ("DELETE", "/responses/resp_1"), ("GET", "/conversations/conv_1"),
                ("DELETE", "/models/ft:gpt-4o:me"), ("GET", "/fine_tuning/jobs"), ("POST", "/realtime/sessions"),
                ("GET", "/something-new")]


@pytest.mark.parametrize(("method", "path"), ACCOUNT_WIDE)
def test_keys_sharing_the_upstream_account_cannot_reach_its_stored_resources(make_gateway, fake_upstream,
                                                                            method, path) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice,gw-bob")
    response = httpx.request(method, gateway.base_url + path, headers={"authorization": "Bearer gw-bob"},
                             content=b"{}" if method == "POST" else None)
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_endpoint_denied"
    assert fake_upstream.requests == []


def test_stateless_endpoints_stay_open_to_gateway_keys(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice")
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="gw-alice", max_retries=0)
    assert sdk.models.list().data
    assert sdk.embeddings.create(model="text-embedding-3-small", input="hello").data
    for path in ("/moderations", "/images/generations", "/audio/speech"):
        response = httpx.post(gateway.base_url + path, json={"model": "m", "input": "x"},
                              headers={"authorization": "Bearer gw-alice"})
        assert response.status_code == 200 and response.json()["path"] == "/v1" + path
    assert sdk.responses.create(model="m", input="x").output_text


def test_the_operator_may_open_account_endpoints(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory", GATEWAY_API_KEYS="gw-alice", ACCOUNT_ENDPOINTS="allow")
    response = httpx.get(f"{gateway.base_url}/files", headers={"authorization": "Bearer gw-alice"})
    assert response.status_code == 200 and response.json()["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_a_key_with_its_own_upstream_key_reaches_its_own_account(make_gateway, fake_upstream, tmp_path) -> None:
    table = tmp_path / "keys.json"
    table.write_text(json.dumps({"gw-alice": "sk-alice-project", "gw-bob": None}))
    gateway = make_gateway("memory", GATEWAY_API_KEYS=str(table))
    files = httpx.get(f"{gateway.base_url}/files", headers={"authorization": "Bearer gw-alice"})
    assert files.status_code == 200 and files.json()["headers"]["authorization"] == "Bearer sk-alice-project"
    assert httpx.get(f"{gateway.base_url}/files", headers={"authorization": "Bearer gw-bob"}).status_code == 403
    assert ask(gateway, key="gw-alice")[0] == "miss"
    assert fake_upstream.last().headers["authorization"] == "Bearer sk-alice-project"
    assert ask(gateway, key="gw-bob")[0] == "miss"  # its own tenant, on the server's key
    assert fake_upstream.last().headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


@pytest.mark.parametrize("target", [
    b"/v1/..#", b"/v1/files/..#", b"/v1/models/..#", b"/v1/models/.#x", b"/v1/a/b/..#x", b"/v1/models/..%5cfiles",
    b"/v1/models/%252e%252e%252ffiles", b"/v1/models/..;x", b"/v1/models/%2e%2e;x/files", b"/v1/models/a\\..\\files",
])
def test_paths_read_otherwise_upstream_are_refused(make_gateway, fake_upstream, target: bytes) -> None:
    """A `#` ends the path for the URL parser upstream (`..#` becomes `..`), backslashes are slashes to some
    servers, a second encoding may be decoded again, `..;x` is `..` to others: none may reach another path."""
    for gateway in (make_gateway("memory"), make_gateway("memory", GATEWAY_API_KEYS="gw-alice")):
        connection = http.client.HTTPConnection(urlsplit(gateway.url).netloc, timeout=10)
        connection.putrequest("GET", target.decode("latin-1"), skip_accept_encoding=True)
        connection.putheader("Authorization", "Bearer gw-alice")
        connection.endheaders()
        status = connection.getresponse().status
        connection.close()
        assert status in (403, 404), (target, status)  # 403: not a stateless endpoint anyway
    assert fake_upstream.requests == []


def test_callers_on_the_servers_key_cannot_pick_its_organization_or_project(make_gateway, fake_upstream) -> None:
    account = {"openai-organization": "org-victim", "openai-project": "proj-victim", "cookie": "session=victim"}
    keyed = make_gateway("memory", GATEWAY_API_KEYS="gw-alice")
    assert post(keyed, {"authorization": "Bearer gw-alice", **account}).status_code == 200
    assert not set(account) & set(fake_upstream.last().headers)
    open_mode = make_gateway("memory")
    assert post(open_mode, account).status_code == 200  # no credential: the server's key, so not these either
    assert not set(account) & set(fake_upstream.last().headers)
    assert post(open_mode, {"authorization": "Bearer sk-own", **account}).status_code == 200  # their own account
    assert fake_upstream.last().headers["openai-project"] == "proj-victim"
