"""The cache policy on its own: the real in-process store and the real local embedder, no server."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.policy import CachePolicy, PolicyConfig
from gateway.embedding.local import LocalEmbedder
from gateway.store.memory import MemoryStore
from gateway.wire.canonical import chat_key
from gateway.wire.controls import Controls

ANSWER = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
          "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Do X."}}]}


class CountingEmbedder(LocalEmbedder):
    """The real embedder, counting how often the model runs."""

    calls = 0

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        self.calls += 1
        return await super().embed(text, api_key=api_key)


class RejectEverything:
    def accepts(self, query: str, cached: str, distance: float) -> bool:
        return False


def key(prompt: str):
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="m", route="default", tenant="t")


@pytest.fixture
async def embedder():
    embedder = CountingEmbedder()
    yield embedder
    await embedder.close()


async def make(embedder, **options) -> CachePolicy:
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    config = PolicyConfig(threshold=0.2, ttl_secs=60, sliding=True, candidates=5)
    return CachePolicy(store, embedder, config, retry_secs=1, **options)


async def test_a_repeated_prompt_is_embedded_once(embedder) -> None:
    policy = await make(embedder)
    stored = key("How do I reset my password?")
    lookup = await policy.lookup(stored, Controls(), api_key=None)
    await policy.remember(stored, ANSWER, Controls(), vector=lookup.vector, api_key=None)
    paraphrase = key("How can I reset my password?")
    for _ in range(3):
        hit = (await policy.lookup(paraphrase, Controls(), api_key=None)).hit
        assert hit is not None and hit.layer == "semantic"
    assert embedder.calls == 2  # the stored prompt once, the paraphrase once


async def test_a_verifier_rejection_falls_through_to_a_miss(embedder) -> None:
    policy = await make(embedder, verifier=RejectEverything())
    stored = key("How do I reset my password?")
    await policy.remember(stored, ANSWER, Controls(), vector=None, api_key=None)
    assert (await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)).hit is None
    assert (await policy.lookup(stored, Controls(), api_key=None)).hit is not None  # exact needs no verdict
