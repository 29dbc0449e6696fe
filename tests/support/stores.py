"""Entries for the store tests: unit vectors in a few dimensions, one set of tags, and a Redis store of each
vector type (FLOAT32 and FLOAT16 in a Query Engine index, int8 in native vector sets)."""

from __future__ import annotations

import numpy as np

from gateway.store.base import Entry, Tags
from gateway.store.redis.entries import RedisEntries
from gateway.store.redis.query_engine import RedisStore
from gateway.store.redis.vector_sets import VectorSetStore

DIM = 8
TAGS = Tags(model="ft:gpt-4o-mini:org:custom", route="default", tenant="tenant1", context="ctx1")
REDIS_KINDS = ("redis", "redis-float16", "redis-int8")


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def entry(key: str, vector: np.ndarray | None, answer: bytes = b"answer", tags: Tags = TAGS) -> Entry:
    return Entry(key=key, tags=tags, prompt=f"prompt {key}", vector=vector, answer=answer)


def redis_store(kind: str, url: str, name: str) -> RedisEntries:
    if kind == "redis-int8":
        return VectorSetStore(url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000)
    vector_type = "float16" if kind == "redis-float16" else "float32"
    return RedisStore(url, index=f"idx:{name}", prefix=f"{name}:", timeout_ms=2000, vector_type=vector_type)
