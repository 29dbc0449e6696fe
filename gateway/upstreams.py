"""Which upstream answers a request: the first provider of the routing table (`UPSTREAMS_FILE`,
`gateway.provider_table`) that serves the request's API and model, else the default upstream of its API
(`UPSTREAM_BASE_URL` for OpenAI's and compatible APIs, `ANTHROPIC_BASE_URL` for Anthropic's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.provider_table import Provider, provider_for
from gateway.upstream import UpstreamClient

DEFAULT = "default"


@dataclass(frozen=True)
class Upstream:
    client: UpstreamClient
    key: str | None = field(default=None, repr=False)  # the provider's own key, sent instead of the caller's
    name: str = DEFAULT  # the provider's name in the table
    api: str = "openai"


class Upstreams:
    def __init__(self, defaults: Mapping[str, UpstreamClient],
                 providers: Sequence[tuple[Provider, UpstreamClient]] = ()) -> None:
        self._defaults = {api: Upstream(client, api=api) for api, client in defaults.items()}
        self._table = tuple(provider for provider, _ in providers)
        self._by_name = {provider.name: Upstream(client, provider.api_key, provider.name, provider.api)
                         for provider, client in providers}

    def for_model(self, api: str, model: str) -> Upstream:
        provider = provider_for(self._table, api, model)
        return self._defaults[api] if provider is None else self._by_name[provider.name]

    @staticmethod
    def routed_away(upstream: Upstream) -> bool:
        """Whether `upstream` is a provider of the table rather than its API's default one."""
        return upstream.name != DEFAULT

    def default(self, api: str) -> Upstream:
        return self._defaults[api]

    @property
    def routed(self) -> bool:
        """Whether a routing table is in use."""
        return bool(self._table)

    def listing(self) -> list[Upstream]:
        """Every upstream whose models `GET /v1/models` lists: the default OpenAI-compatible one, then the table's."""
        return [self._defaults["openai"], *self._by_name.values()]

    def health(self) -> dict[str, Any]:
        """The table's upstreams, by name."""
        return {name: upstream.client.health() for name, upstream in self._by_name.items()}

    async def close(self) -> None:
        for upstream in [*self._defaults.values(), *self._by_name.values()]:
            await upstream.client.close()
