"""Several upstream providers behind one gateway (`UPSTREAMS_FILE`): each request goes to the provider that serves
its model in its API, with that provider's key (never the caller's credential, meant for someone else) or the
caller's own where the table names none; the cache works alike for each; `GET /v1/models` lists them all; a bad
table stops the gateway at start with what is wrong where."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from gateway.cli import exposure_warning
from gateway.errors import SettingsError
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_server import settings_for

LOCAL_MODELS = ("llama3.2", "qwen2.5:7b")
GROQ_MODELS = ("mixtral-8x7b", "gpt-4o-mini")  # gpt-4o-mini is the default upstream's too: it routes there


@pytest.fixture
def local() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.model_names = LOCAL_MODELS
        yield upstream


@pytest.fixture
def groq() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.model_names = GROQ_MODELS
        yield upstream


@pytest.fixture
def routed(make_gateway, store_kind, local, groq, tmp_path):
    table = tmp_path / "upstreams.toml"
    table.write_text(f"""
[[upstream]]
name = "local"
base_url = "{local.base_url}"
models = ["llama*", "qwen*"]

[[upstream]]
name = "groq"
base_url = "{groq.base_url}"
api_key_env = "GROQ_KEY"
models = ["mixtral-*"]
timeout_secs = 30

[[upstream]]
name = "claude"
api = "anthropic"
base_url = "{groq.origin}"
api_key_env = "CLAUDE_KEY"
models = ["claude-*"]
""")
    return make_gateway(store_kind, UPSTREAMS_FILE=str(table), GROQ_KEY="gsk-groq-secret", CLAUDE_KEY="sk-ant-c")


def chat(gateway, model: str, *, key: str = "sk-client-one", **headers: str):
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, default_headers=headers or None)
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Hi?"}])
    gateway.drain()
    return raw.headers["x-cache"], raw.parse()


def test_each_model_goes_to_its_provider_and_is_cached_there(routed, fake_upstream, local, groq) -> None:
    assert chat(routed, "llama3.2")[0] == "miss" and chat(routed, "llama3.2")[0] == "hit"
    assert local.calls() == 1 and fake_upstream.calls() == 0
    assert local.last().headers["authorization"] == "Bearer sk-client-one"  # no key in the table: the caller's
    assert chat(routed, "gpt-4o-mini")[0] == "miss" and fake_upstream.calls() == 1  # no provider: the default
    assert chat(routed, "mixtral-8x7b", **{"openai-organization": "org-client"})[0] == "miss"
    sent = groq.last().headers
    assert sent["authorization"] == "Bearer gsk-groq-secret" and "openai-organization" not in sent
    assert "sk-client-one" not in json.dumps(sent)
    assert chat(routed, "mixtral-8x7b", key="sk-client-two")[0] == "miss"  # another tenant, one provider key
    assert groq.calls() == 2


def test_every_api_is_routed(routed, fake_upstream, local, groq) -> None:
    sdk = openai.OpenAI(base_url=routed.base_url, api_key="sk-client-one", max_retries=0)
    assert sdk.responses.create(model="qwen2.5:7b", input="Hi?").output_text
    assert sdk.embeddings.create(model="llama3.2", input=["one", "two"]).data
    assert sdk.completions.create(model="llama3.2", prompt="Hi?").choices
    assert local.calls("/v1/responses") == 1 and local.calls("/v1/embeddings") == 1
    assert local.calls("/v1/completions") == 1 and fake_upstream.requests == []
    claude = anthropic.Anthropic(base_url=routed.url, api_key="sk-ant-client", max_retries=0)
    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                     messages=[{"role": "user", "content": "Hi?"}])
    assert message.content and groq.last("/v1/messages").headers["x-api-key"] == "sk-ant-c"
    assert claude.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi?"}])
    assert groq.last("/v1/messages/count_tokens").headers["x-api-key"] == "sk-ant-c"


def test_the_model_list_is_every_providers(routed, fake_upstream, groq) -> None:
    fake_upstream.model_names = ("llama3.2", "gpt-4o-mini", "gpt-4o")  # it lists one the table sends elsewhere ...
    listed = list(openai.OpenAI(base_url=routed.base_url, api_key="sk-client-one").models.list())
    # ... which is listed where it is served (and groq's gpt-4o-mini, served by the default upstream, is not groq's)
    assert [model.id for model in listed] == ["gpt-4o-mini", "gpt-4o", "llama3.2", "qwen2.5:7b", "mixtral-8x7b"]


def test_a_model_is_looked_up_where_it_is_served(routed, fake_upstream, local) -> None:
    sdk = openai.OpenAI(base_url=routed.base_url, api_key="sk-client-one", max_retries=0)
    sdk.models.retrieve("llama3.2")
    sdk.models.retrieve("gpt-4o")
    assert local.last("/v1/models/llama3.2") is not None and fake_upstream.last("/v1/models/gpt-4o") is not None
    assert fake_upstream.last("/v1/models/llama3.2") is None


def test_a_provider_that_does_not_answer_is_left_out_of_the_list(routed, local) -> None:
    local.stop()
    listed = httpx.get(f"{routed.base_url}/models", headers={"authorization": "Bearer sk-client-one"}).json()
    assert "llama3.2" not in [model["id"] for model in listed["data"]] and "mixtral-8x7b" in str(listed)
    with pytest.raises(openai.InternalServerError):
        chat(routed, "llama3.2")  # its models answer 502, in OpenAI's shape


def test_without_a_table_the_list_is_the_upstreams(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("memory")
    assert [model.id for model in openai.OpenAI(base_url=gateway.base_url, api_key="k").models.list()] == [
        "gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    assert fake_upstream.last("/v1/models") is not None


@pytest.mark.parametrize(("table", "env", "says"), [
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://h'\nmodels = ['*']\napi_key = 'sk-in-file'\n", {}, "unknown"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://h'\nmodels = ['*']\napi_key_env = 'NOPE'\n", {}, "NOPE is not"),
    ("not toml", {}, "not valid TOML"),
])
def test_a_bad_table_stops_the_gateway_saying_what_is_wrong(tmp_path, table: str, env: dict, says: str) -> None:
    path = tmp_path / "upstreams.toml"
    path.write_text(table)
    with pytest.raises(SettingsError, match=says):
        settings_for({"UPSTREAMS_FILE": str(path), **env})
    with pytest.raises(SettingsError, match="is not a file"):
        settings_for({"UPSTREAMS_FILE": str(tmp_path / "missing.toml")})


def test_serving_every_address_warns_of_every_key_it_holds(tmp_path) -> None:
    table = tmp_path / "upstreams.toml"
    table.write_text("[[upstream]]\nname = 'groq'\nbase_url = 'http://h/v1'\nmodels = ['*']\n"
                     "api_key_env = 'GROQ_KEY'\n")
    settings = settings_for({"UPSTREAMS_FILE": str(table), "GROQ_KEY": "gsk-secret"})
    warning = exposure_warning("0.0.0.0", settings)
    assert warning is not None and "GROQ_KEY" in warning and "gsk-secret" not in warning
    assert exposure_warning("127.0.0.1", settings) is None
    assert exposure_warning("0.0.0.0", settings_for({"UPSTREAMS_FILE": str(table), "GROQ_KEY": "gsk-secret",
                                                      "GATEWAY_API_KEYS": "gw-1"})) is None


def test_a_provider_without_a_key_is_never_sent_one_of_the_servers(make_gateway, local, tmp_path) -> None:
    table = tmp_path / "upstreams.toml"
    table.write_text(f"[[upstream]]\nname = 'local'\nbase_url = '{local.base_url}'\nmodels = ['llama*']\n")
    open_mode = make_gateway("memory", UPSTREAMS_FILE=str(table), ANTHROPIC_API_KEY="sk-ant-server")
    httpx.post(f"{open_mode.base_url}/chat/completions", json={"model": "llama3.2", "messages": [
        {"role": "user", "content": "Hi?"}]})  # no credential: the server's OPENAI_API_KEY is for the default upstream
    keyed = make_gateway("memory", UPSTREAMS_FILE=str(table), GATEWAY_API_KEYS="gw-alice")
    chat(keyed, "llama3.2", key="gw-alice")
    sent = [request.headers for request in local.requests if request.path == "/v1/chat/completions"]
    assert len(sent) == 2 and not any("authorization" in headers or "x-api-key" in headers for headers in sent)
    listed = httpx.get(f"{open_mode.base_url}/models", headers={"authorization": "Bearer sk-client-one"})
    assert listed.status_code == 200 and "authorization" not in local.last("/v1/models").headers


def test_a_provider_slow_to_list_is_left_out_not_waited_for(routed, local) -> None:
    local.latency = 30  # far past the list's deadline, and past this client's patience
    listed = httpx.get(f"{routed.base_url}/models", headers={"authorization": "Bearer k"}, timeout=15).json()
    assert "mixtral-8x7b" in [model["id"] for model in listed["data"]] and "llama3.2" not in str(listed)
