"""The routing table of upstream providers, on tables: what it reads, what it refuses (saying where), and which
provider answers which model in which API."""

from __future__ import annotations

import json

import pytest

from gateway.provider_table import parse_providers, provider_for, read_providers, with_keys

TABLE = """
[[upstream]]
name = "ollama"
base_url = "http://localhost:11434/v1/"
models = ["llama*", "qwen2.5:*"]

[[upstream]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com"
api_key_env = "ANTHROPIC_KEY"
models = ["claude-*"]
timeout_secs = 300

[[upstream]]
name = "groq"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_KEY"
models = ["llama-3.3-70b-versatile", "*"]
"""


def test_a_table_is_read_in_order_and_routes_by_api_and_model() -> None:
    providers = parse_providers(TABLE, toml=True)
    assert [p.name for p in providers] == ["ollama", "anthropic", "groq"]
    assert providers[0].base_url == "http://localhost:11434/v1" and providers[0].api == "openai"
    assert providers[1].timeout_secs == 300 and providers[1].connect_timeout_secs is None
    route = {model: getattr(provider_for(providers, api, model), "name", None) for api, model in [
        ("openai", "llama3.2"), ("openai", "qwen2.5:7b"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o")]}
    assert route == {"llama3.2": "ollama", "qwen2.5:7b": "ollama", "claude-sonnet-4-5": "anthropic", "gpt-4o": "groq"}
    assert provider_for(providers, "anthropic", "gpt-4o") is None  # no anthropic provider serves it: the default
    assert provider_for(providers[:2], "openai", "gpt-4o") is None


def test_json_reads_alike(tmp_path) -> None:
    path = tmp_path / "upstreams.json"
    path.write_text(json.dumps({"upstream": [{"name": "vllm", "base_url": "http://gpu:8000/v1", "models": ["*"]}]}))
    assert read_providers(str(path))[0].name == "vllm"
    toml = tmp_path / "upstreams.toml"
    toml.write_text(TABLE)
    assert len(read_providers(str(toml))) == 3


def test_keys_come_from_the_environment_and_never_show() -> None:
    providers = with_keys(parse_providers(TABLE, toml=True), {"ANTHROPIC_KEY": "sk-ant-secret", "GROQ_KEY": "gsk"})
    assert providers[1].api_key == "sk-ant-secret" and providers[0].api_key is None
    assert "sk-ant-secret" not in repr(providers) and "gsk" not in str(providers)
    with pytest.raises(ValueError, match="GROQ_KEY is not set"):
        with_keys(parse_providers(TABLE, toml=True), {"ANTHROPIC_KEY": "k"})


@pytest.mark.parametrize(("text", "says"), [
    ("not toml [", "not valid TOML"),
    ("[[upstream]]\nname = 'x'\nmodels = ['*']", "base_url"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'ftp://x'\nmodels = ['*']", "base_url"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://x'\nmodels = []", "models"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['*']\napi = 'gemini'", "api"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['*']\napi_key = 'sk-in-the-file'", "unknown"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['*']\ntimeout_secs = -1", "timeout_secs"),
    ("[[upstream]]\nname = 'x y'\nbase_url = 'http://x'\nmodels = ['*']", "name"),
    ("[[upstream]]\nname = 'x'\nbase_url = 'http://x'\nmodels = ['*']\n[[upstream]]\nname = 'x'\n"
     "base_url = 'http://y'\nmodels = ['*']", "same name"),
    ("title = 'nothing'", "list of upstreams"),
])
def test_a_bad_table_is_refused_saying_what_and_where(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_providers(text, toml=True)


@pytest.mark.parametrize(("entry", "says"), [
    ("base_url = 'https://user:pw@api.example.com/v1'", "no user or password"),
    ("base_url = 'https://api.example.com/v1?key=abc'", "query"),
    ("base_url = 'https://api.example.com/v1#x'", "fragment"),
    ("base_url = 'http://'", "with a host"),
    ("base_url = 'https://api.anthropic.com/v1'\napi = 'anthropic'", "without /v1"),
    ("base_url = 'http://h'\napi_key_env = 'ADMIN_TOKEN'", "not one of"),
])
def test_a_table_that_would_send_a_request_or_a_key_elsewhere_is_refused(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_providers(f"[[upstream]]\nname = 'x'\nmodels = ['*']\n{entry}\n", toml=True)
    with pytest.raises(ValueError, match="not `default`"):
        parse_providers("[[upstream]]\nname = 'Default'\nmodels = ['*']\nbase_url = 'http://h'\n", toml=True)


def test_a_key_of_more_than_one_line_is_refused() -> None:
    table = parse_providers("[[upstream]]\nname = 'x'\nmodels = ['*']\nbase_url = 'http://h'\napi_key_env = 'K'\n",
                            toml=True)
    with pytest.raises(ValueError, match="not one line"):
        with_keys(table, {"K": "sk-a\nX-Injected: 1"})
