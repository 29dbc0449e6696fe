"""The Query Engine index the store builds, and how it tells that index from whatever else holds its name.

The vector attribute is named after the fingerprint of embedder, dimension and type (`embedding AS v_<fingerprint>`),
so the index definition records what built it: a meta key can be evicted, an index cannot, and a KNN query names
the attribute, so against another embedder's index it finds nothing instead of that embedder's vectors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# A tag is one whole value, compared case-sensitively: the default splits on "," and folds case, which
# would merge the routes "Support" and "support" or split a model name.
_EXACT_TAG = ("SEPARATOR", "\x1f", "CASESENSITIVE")
TAG_FIELDS = ("model", "route", "user", "ctx")
VECTOR_FIELD = "embedding"  # the hash field that holds an entry's vector, whatever the index calls it


@dataclass(frozen=True)
class _Vector:
    field: str
    attribute: str
    dim: int
    vector_type: str
    metric: str


def _vector_of(info: dict[bytes, Any]) -> _Vector | None:
    for attribute in info.get(b"attributes", ()):
        if attribute.get(b"type") == b"VECTOR":
            return _Vector(attribute.get(b"identifier", b"").decode(), attribute.get(b"attribute", b"").decode(),
                           int(attribute.get(b"dim", 0)), attribute.get(b"data_type", b"").decode().lower(),
                           attribute.get(b"distance_metric", b"").decode())
    return None


def _exact_tag(attribute: dict[bytes, Any]) -> bool:
    return (attribute.get(b"type") == b"TAG" and attribute.get(b"SEPARATOR") == b"\x1f"
            and b"CASESENSITIVE" in attribute.get(b"flags", ()))


@dataclass(frozen=True)
class Definition:
    prefix: str
    attribute: str  # the vector attribute's name: `v_<fingerprint>`
    dim: int
    vector_type: str

    def create(self, index: str) -> tuple[str, ...]:
        """The FT.CREATE command for this index."""
        tags = [part for field in TAG_FIELDS for part in (field, "TAG", *_EXACT_TAG)]
        return ("FT.CREATE", index, "ON", "HASH", "PREFIX", "1", self.prefix, "SCHEMA", "prompt", "TEXT", *tags,
                VECTOR_FIELD, "AS", self.attribute, "VECTOR", "HNSW", "6", "TYPE", self.vector_type.upper(),
                "DIM", str(self.dim), "DISTANCE_METRIC", "COSINE")

    def mismatch(self, info: dict[bytes, Any]) -> str | None:
        """How the index FT.INFO describes in `info` differs from this one (to follow "Redis cache <name>"),
        or None when it is this one."""
        definition = info.get(b"index_definition", {})
        kind = definition.get(b"key_type", b"?").decode()
        prefixes = [prefix.decode() for prefix in definition.get(b"prefixes", ())]
        if kind != "HASH" or prefixes != [self.prefix]:
            return f"is an index of {kind} keys under {prefixes}, not of hashes under [{self.prefix!r}]"
        vector = _vector_of(info)
        if vector is None:
            return "is an index without vectors"
        if vector != _Vector(VECTOR_FIELD, self.attribute, self.dim, self.vector_type, "COSINE"):
            return (f"is an index of {vector.dim}-d {vector.vector_type} {vector.metric} vectors in {vector.field!r} "
                    f"named {vector.attribute!r} (this embedder's are named {self.attribute!r})")
        tags = {attribute.get(b"attribute", b"").decode(): attribute for attribute in info.get(b"attributes", ())}
        for field in TAG_FIELDS:
            if not _exact_tag(tags.get(field, {})):
                return f"is an index whose {field!r} is not an exact, case-sensitive tag"
        return None

    def built_earlier(self, info: dict[bytes, Any]) -> bool:
        """Whether `info` describes this index as versions before the fingerprint built it: the vector attribute
        plainly named `embedding`, which says nothing of the embedder."""
        return replace(self, attribute=VECTOR_FIELD).mismatch(info) is None
