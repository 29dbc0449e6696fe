"""The cache policy on its own: the real in-process store and the real local embedder, no server."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.layers import CacheLayers, PolicyConfig
from gateway.cache.learning import Learning
from gateway.cache.policy import Ask
from gateway.embedding.local import LocalEmbedder
from gateway.store.memory import MemoryStore
from gateway.web.request_parts import Asker
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


async def make(embedder, **options) -> CacheLayers:
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    config = PolicyConfig(threshold=0.2, ttl_secs=60, sliding=True, candidates=5)
    options.setdefault("learning", Learning(store, embedder, adaptive=None, shadow_rate=0.0))
    return CacheLayers(store, embedder, config, retry_secs=1, **options)


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


async def test_long_prompts_that_differ_only_past_what_the_embedder_read_are_no_hit(embedder) -> None:
    """The local model reads 256 word pieces; past them two prompts have one vector, whatever they ask."""
    policy = await make(embedder)
    rules = ("Please follow these house rules when you answer: be concise, cite sources where you can, use plain "
             "words, avoid jargon, keep a friendly tone, number the steps, and mention any safety concern. ") * 8
    assert len(rules) > 1300 and policy.prompts._read(rules) < len(rules)
    await policy.remember(key(rules + "My question: how do I treat back pain?"), ANSWER, Controls(), vector=None,
                          api_key=None)
    other = await policy.lookup(key(rules + "My question: how do I treat knee pain?"), Controls(), api_key=None)
    assert other.hit is None
    same = await policy.lookup(key(rules.replace("Please", "please", 1) + "My question: how do I treat back pain?"),
                               Controls(), api_key=None)
    assert same.hit is not None and same.hit.layer == "semantic"  # a change the embedder read is still judged


async def test_recent_prompts_are_remembered_by_digest_not_kept_whole(embedder) -> None:
    policy = await make(embedder)
    await policy.lookup(key("x" * 20_000 + " what now?"), Controls(), api_key=None)
    assert all(isinstance(digest, bytes) and len(digest) == 16 for digest in policy.prompts._vectors)


async def test_stored_parts_are_read_once_per_key_and_only_while_the_whole_fits(embedder) -> None:
    """A request naming one stored part thousands of times reads it once; a whole expected to pass the limit
    (the parts found so far, in proportion) is not read further, nor put together."""
    layers = await make(embedder)
    await layers.keep_blobs([("a", b"x" * 100), ("b", b"y" * 100)], Controls())
    assert await layers.recall_blobs(["a", "b", "a", "c"], limit=1000) == [b"x" * 100, b"y" * 100, b"x" * 100, None]
    assert await layers.recall_blobs(["a"] * 2048, limit=100_000) is None  # 2048 x 100 bytes: too big
    assert await layers.recall_blobs(["a"] * 9, limit=1000) == [b"x" * 100] * 9
    assert await layers.recall_blobs(["a"] * 11, limit=1000) is None
    await layers.keep_blobs([("big", b"z" * 5000)], Controls(store=False))  # no-store keeps nothing
    assert await layers.recall_blobs(["big"], limit=10_000) == [None]


def test_a_callers_upstream_key_is_never_in_a_repr() -> None:
    """An Ask travels into background errands and decisions; a repr of one in a log or a traceback must not carry
    the key its caller's upstream calls are made with."""
    ask = Ask(None, Controls(), "tenant", "sk-upstream-secret", None, False)
    asker = Asker("tenant", "tenant", None, "sk-upstream-secret")
    assert "sk-upstream-secret" not in repr(ask) and "sk-upstream-secret" not in repr(asker)
