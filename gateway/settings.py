"""The one frozen settings object, built once from the environment and `.env` by the table of variables
(`gateway.setting_table`), with the checks that span several settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gateway.errors import SettingsError
from gateway.provider_table import Provider, with_keys
from gateway.setting_table import SETTINGS
from gateway.setting_values import ErrorBudgets, KeyTable

SECRETS = frozenset({"openai_api_key", "anthropic_api_key", "gateway_api_keys", "admin_token", "metrics_token"})


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    openai_api_key: str | None
    gateway_api_keys: KeyTable
    account_endpoints: str
    admin_token: str | None
    allowed_origins: frozenset[str]
    upstream_base_url: str
    upstreams_file: tuple[Provider, ...]  # with each provider's key read from its variable
    anthropic_base_url: str
    anthropic_api_key: str | None
    gen_model: str
    embed_provider: str
    language_embedder: str
    embed_dim: int | None
    embed_model: str
    embed_timeout_secs: float
    latency_slayer_model_dir: Path | None
    cache_distance_threshold: float
    cache_verifier: bool
    resp_ttl_secs: int
    resp_ttl_sliding: bool
    stale_max_secs: int
    stale_secs: int
    stale_routes: tuple[tuple[str, int], ...]
    refresh_ahead_hits: int
    refresh_ahead_share: float
    refresh_budget_requests: int
    refresh_budget_tokens: int
    prefetch: bool
    prefetch_min_prob: float
    prefetch_min_count: int
    prefetch_learn_secs: int
    miss_delay_ms: int
    shared_routes: frozenset[str]
    hosted_tool_routes: frozenset[str]
    responses_keep_secs: int
    index_name: str
    key_prefix: str
    vector_type: str
    adaptive_thresholds: bool
    adaptive_start_threshold: float
    shadow_sample_rate: float
    route_error_budget: ErrorBudgets
    admit_after_asks: int
    max_cacheable_temperature: float
    semantic_candidates: int
    memory_max_entries: int
    memory_max_bytes: int
    max_body_bytes: int
    body_timeout_secs: float
    max_entry_bytes: int
    max_merged_bytes: int
    upstream_connect_timeout_secs: float
    upstream_timeout_secs: float
    upstream_http2: bool
    single_flight: bool
    embed_batch_wait_ms: float
    redis_timeout_ms: int
    store_retry_secs: float
    metrics_stream: str
    metrics_maxlen: int
    metrics_prices: tuple[tuple[str, float, float], ...]
    metrics_token: str | None
    otel_traces_exporter: str
    otel_exporter_otlp_endpoint: str
    otel_service_name: str
    trace_client_context: str
    log_level: str
    shutdown_delay_secs: float
    shutdown_grace_secs: float
    ready_requires_store: bool
    access_log: str

    def __repr__(self) -> str:  # secrets must never reach a log line through a repr
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown.update({name: "set" if shown[name] else "unset" for name in SECRETS})
        return f"Settings({shown})"


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, `export ` and matching quotes are allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    """Build the settings once: the environment wins over `.env` in the working directory."""
    merged = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")
    merged.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = merged.get(setting.env)
        attribute = setting.env.lower()
        if raw is None:
            values[attribute] = setting.default
            continue
        try:
            values[attribute] = setting.parse(raw.strip())
        except (ValueError, TypeError):
            raise SettingsError(f"{setting.env}={raw!r} is invalid: expected {setting.accepts}") from None
    try:
        values["upstreams_file"] = with_keys(values["upstreams_file"], merged)
    except ValueError as error:
        raise SettingsError(f"UPSTREAMS_FILE is invalid: {error}") from None
    settings = Settings(**values)
    widest = max([settings.stale_secs, *(seconds for _, seconds in settings.stale_routes)])
    if widest > settings.stale_max_secs:
        raise SettingsError(f"A stale-while-revalidate window of {widest} s (STALE_SECS, STALE_ROUTES) is invalid: "
                            f"STALE_MAX_SECS={settings.stale_max_secs} is the longest")
    if settings.embed_provider == "local" and settings.embed_dim not in (None, 384):
        raise SettingsError(f"EMBED_DIM={settings.embed_dim} is invalid: EMBED_PROVIDER=local gives 384")
    return settings
