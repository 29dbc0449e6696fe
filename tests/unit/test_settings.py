"""Settings as an operator gives them: each one documented in the README, the defaults, a bad value refused by
name, the gateway key table in its forms, and a .env file under the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import SettingsError
from gateway.setting_table import SETTINGS
from gateway.settings import load_settings
from tests.support.processes import NO_DOTENV

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [setting.env for setting in SETTINGS if f"| `{setting.env}` |" not in readme]
    assert missing == []


def test_defaults_need_no_redis_and_no_key() -> None:
    settings = load_settings(environ={}, dotenv=NO_DOTENV)
    assert settings.redis_url is None and settings.openai_api_key is None
    assert settings.embed_provider == "local" and settings.cache_distance_threshold == 0.2
    assert "'openai_api_key': 'unset'" in repr(settings)
    secret = load_settings(environ={"OPENAI_API_KEY": "sk-secret", "ADMIN_TOKEN": "adm-secret",
                                    "GATEWAY_API_KEYS": "gw-secret", "ANTHROPIC_API_KEY": "ant-secret"},
                           dotenv=NO_DOTENV)
    assert not any(value in repr(secret) for value in ("sk-secret", "adm-secret", "gw-secret", "ant-secret"))


@pytest.mark.parametrize(("name", "value"), [
    ("CACHE_DISTANCE_THRESHOLD", "abc"), ("CACHE_DISTANCE_THRESHOLD", "2.5"), ("RESP_TTL_SECS", "0"),
    ("RESP_TTL_SLIDING", "maybe"), ("EMBED_PROVIDER", "cohere"), ("REDIS_URL", "http://x"),
    ("UPSTREAM_BASE_URL", "api.openai.com"), ("EMBED_DIM", "-1"), ("MISS_DELAY_MS", "soon"),
    ("GATEWAY_API_KEYS", '{"gw-a": 5}'), ("GATEWAY_API_KEYS", '{"": "sk-x"}'), ("GATEWAY_API_KEYS", '{"gw-a": '),
    ("ACCOUNT_ENDPOINTS", "maybe"), ("BODY_TIMEOUT_SECS", "0"),
    ("MAX_ENTRY_BYTES", "10"),
])
def test_a_bad_value_names_the_variable_and_what_it_accepts(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{name}=.*expected "):
        load_settings(environ={name: value}, dotenv=NO_DOTENV)


def test_the_gateway_key_table_is_a_list_or_a_json_object_inline_or_in_a_file(tmp_path: Path) -> None:
    def table(value: str) -> tuple:
        return load_settings(environ={"GATEWAY_API_KEYS": value}, dotenv=NO_DOTENV).gateway_api_keys

    assert table(" gw-b, gw-a ,") == (("gw-a", None), ("gw-b", None))
    assert table('{"gw-a": "sk-a", "gw-b": null}') == (("gw-a", "sk-a"), ("gw-b", None))
    keys = tmp_path / "keys.json"
    keys.write_text('{"gw-c": "sk-c"}')
    assert table(str(keys)) == (("gw-c", "sk-c"),)
    assert table("gw-only") == (("gw-only", None),)  # not a file: a key


def test_local_embedder_has_a_fixed_dimension() -> None:
    with pytest.raises(SettingsError, match="EMBED_DIM"):
        load_settings(environ={"EMBED_DIM": "1536"}, dotenv=NO_DOTENV)
    assert load_settings(environ={"EMBED_PROVIDER": "openai", "EMBED_DIM": "512"}, dotenv=NO_DOTENV).embed_dim == 512


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nexport GEN_MODEL="from-file"\nRESP_TTL_SECS=60\nMISS_DELAY_MS=5\n')
    settings = load_settings(environ={"MISS_DELAY_MS": "7"}, dotenv=dotenv)
    assert (settings.gen_model, settings.resp_ttl_secs, settings.miss_delay_ms) == ("from-file", 60, 7)
