"""Where the vector-set store keeps things. On one node: `<prefix><id>` (an entry), `<prefix>vset:<scope>` and
`<prefix>exact:<scope>` (a scope's vectors, and its entries without one), `<prefix>scopes` (the registry of scopes,
for flushes by route or tenant).

On a Redis Cluster every script must touch one slot, so each of these names carries a hash tag, `{<shard>}`, the
first `SHARD_CHARS` characters of the entry's id, which `shard_of` derives from its scope: an entry, its scope's
sets and the registry of that shard's scopes share a slot, and an entry is found from its id alone. There is one
registry per shard in use, which a flush finds by SCAN on every master."""

from __future__ import annotations

from gateway.store.base import Tags
from gateway.wire.canonical import SHARD_CHARS, shard_of


class VectorSetKeys:
    def __init__(self, prefix: str, *, cluster: bool) -> None:
        self.prefix = prefix
        self.cluster = cluster

    def _tag(self, shard: str) -> str:
        return "{" + shard + "}" if self.cluster else ""

    def shard(self, tags: Tags) -> str:
        return shard_of(tags.context)

    def entry(self, key: str) -> str:
        return f"{self.prefix}{self._tag(key[:SHARD_CHARS])}{key}"

    def scope(self, shard: str, scope: str) -> tuple[str, str]:
        """The scope's vector set and its set of entries without a vector."""
        tag = self._tag(shard)
        return f"{self.prefix}vset:{tag}{scope}", f"{self.prefix}exact:{tag}{scope}"

    def registry(self, shard: str) -> str:
        return f"{self.prefix}scopes:{self._tag(shard)}" if self.cluster else f"{self.prefix}scopes"

    def registry_pattern(self) -> str:
        """A SCAN pattern for every registry (on one node there is one)."""
        return f"{self.prefix}scopes:{{*}}"

    def shard_of_registry(self, registry: str) -> str:
        return registry.rpartition("{")[2].rstrip("}") if self.cluster else ""
