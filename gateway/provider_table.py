"""The routing table of upstream providers (`UPSTREAMS_FILE`, TOML or JSON): which upstream answers which models,
in which API, with which key. Read once with the settings; pure data and matching, no I/O beyond the file.

    [[upstream]]
    name = "ollama"
    base_url = "http://localhost:11434/v1"
    models = ["llama*", "qwen*"]           # shell-style patterns of model names, tried in file order

    [[upstream]]
    name = "anthropic"
    api = "anthropic"                      # "openai" (any OpenAI-compatible API, the default) or "anthropic"
    base_url = "https://api.anthropic.com"
    api_key_env = "ANTHROPIC_API_KEY"      # the key is read from this variable: no key sits in the file
    models = ["claude-*"]
    timeout_secs = 300                     # optional, else UPSTREAM_TIMEOUT_SECS / UPSTREAM_CONNECT_TIMEOUT_SECS
    connect_timeout_secs = 5
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

APIS = ("openai", "anthropic")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# The gateway's own secrets: a provider's key read from one of them would send it upstream.
GATEWAY_SECRETS = frozenset({"ADMIN_TOKEN", "GATEWAY_API_KEYS", "METRICS_TOKEN", "REDIS_URL"})
_FIELDS = frozenset({"name", "base_url", "api", "models", "api_key_env", "timeout_secs", "connect_timeout_secs"})


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    api: str  # the wire format it speaks: "openai" or "anthropic"
    models: tuple[str, ...]  # shell-style patterns (`gpt-*`, `llama3.2`, `*`)
    api_key_env: str | None = None  # the variable holding its key; unset: the client's credential goes upstream
    api_key: str | None = None  # read from `api_key_env` when the settings are loaded; never in the file
    timeout_secs: float | None = None
    connect_timeout_secs: float | None = None

    def serves(self, api: str, model: str) -> bool:
        return api == self.api and any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"Provider(name={self.name!r}, api={self.api!r}, base_url={self.base_url!r}, models={self.models!r})"


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _check_url(base_url: Any, api: str, where: str) -> None:
    """An http(s) URL with a host, and nothing that would change where a request goes or what it carries."""
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(where, "`base_url` must be an http(s):// URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise _fail(where, "`base_url` must have no user or password (keys go in `api_key_env`), query or fragment")
    if api == "anthropic" and parts.path.rstrip("/").endswith("/v1"):
        raise _fail(where, "an Anthropic `base_url` is the API's root, without /v1")


def _seconds(entry: Mapping[str, Any], field: str, where: str) -> float | None:
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86_400:
        raise _fail(where, f"`{field}` must be a number of seconds from 0 to 86400")
    return float(value)


def _provider(entry: Any, index: int) -> Provider:
    where = f"upstream {index + 1}"
    if not isinstance(entry, dict):
        raise _fail(where, "must be a table")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}")
    name, base_url, api = entry.get("name"), entry.get("base_url"), entry.get("api", "openai")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.lower() == "default":
        raise _fail(where, "`name` must be 1-64 letters, digits or . _ - (and not `default`)")
    where = f"upstream {name!r}"
    if api not in APIS:
        raise _fail(where, f"`api` must be one of {', '.join(APIS)}")
    _check_url(base_url, api, where)
    models = entry.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise _fail(where, "`models` must be a non-empty list of model names or patterns")
    key_env = entry.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not _ENV.fullmatch(key_env)
                                or key_env.upper() in GATEWAY_SECRETS):
        raise _fail(where, "`api_key_env` must name an environment variable holding the provider's key (not one of "
                    f"{', '.join(sorted(GATEWAY_SECRETS))})")
    return Provider(name, base_url.rstrip("/"), api, tuple(models), key_env, None,
                    _seconds(entry, "timeout_secs", where), _seconds(entry, "connect_timeout_secs", where))


def parse_providers(text: str, *, toml: bool) -> tuple[Provider, ...]:
    """The table in `text`: TOML (`[[upstream]]` tables) or JSON (`{"upstream": [...]}` or a list). Raises
    ValueError saying what is wrong where."""
    try:
        document = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not valid {'TOML' if toml else 'JSON'}: {error}") from None
    entries = document.get("upstream") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise ValueError("expected a list of upstreams (`[[upstream]]` tables)")
    providers = tuple(_provider(entry, index) for index, entry in enumerate(entries))
    names = [provider.name for provider in providers]
    if len(set(names)) != len(names):
        raise ValueError("two upstreams have the same name")
    return providers


def read_providers(path: str) -> tuple[Provider, ...]:
    """The table in the file at `path` (`.toml`, else JSON)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"{path} is not a file")
    return parse_providers(file.read_text(encoding="utf-8"), toml=file.suffix.lower() == ".toml")


def with_keys(providers: tuple[Provider, ...], environ: Mapping[str, str]) -> tuple[Provider, ...]:
    """Each provider with its key read from its variable. Raises ValueError for a variable that is not set: a
    provider without its key would send each client's own credential to a third party instead."""
    for provider in providers:
        value = (environ.get(provider.api_key_env) or "").strip() if provider.api_key_env is not None else None
        if value is not None and (not value or any(character in value for character in "\r\n")):
            raise ValueError(f"upstream {provider.name!r}: {provider.api_key_env} is not set (or not one line)")
    return tuple(replace(provider, api_key=environ[provider.api_key_env].strip()) if provider.api_key_env else provider
                 for provider in providers)


def provider_for(providers: tuple[Provider, ...], api: str, model: str) -> Provider | None:
    """The first provider, in the table's order, that serves `model` in `api`; None: the default upstream."""
    return next((provider for provider in providers if provider.serves(api, model)), None)
