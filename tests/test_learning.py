"""Adaptive thresholds, feedback, shadow verdicts and admission, on scripted sequences of events."""

from __future__ import annotations

import pytest

from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.agreement import answers_agree
from gateway.cache.learning import Feedback, Learning
from gateway.cache.policy import CachePolicy, PolicyConfig
from gateway.embedding.local import LocalEmbedder
from gateway.store.memory import MemoryStore
from gateway.wire.canonical import SHARED_TENANT, chat_key
from gateway.wire.controls import Controls


def completion(content: str | None = None, calls: list | None = None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}
                                 for i, (name, args) in enumerate(calls)]
    return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


def test_a_route_starts_strict_and_loosens_only_with_evidence_at_the_edge() -> None:
    adaptive = AdaptiveThresholds(start=0.04, ceiling=0.10, step=0.005)
    assert adaptive.threshold("faq") == 0.04
    assert adaptive.record("faq", 0.01, good=True) == 0.04  # far inside: says nothing about the edge
    assert adaptive.record("faq", 0.05, good=True) == pytest.approx(0.055)  # a good would-be hit beyond it
    for _ in range(20):
        adaptive.record("faq", adaptive.threshold("faq"), good=True)
    assert adaptive.threshold("faq") == 0.10  # never past the ceiling
    assert adaptive.threshold("other") == 0.04  # routes learn separately


def test_one_wrong_hit_tightens_below_it_at_once() -> None:
    adaptive = AdaptiveThresholds(start=0.10, ceiling=0.10, step=0.005)
    assert adaptive.record("faq", 0.08, good=False) == pytest.approx(0.075)
    assert adaptive.record("faq", 0.02, good=False) == pytest.approx(0.015)
    assert adaptive.record("faq", 0.0, good=False) == 0.0


@pytest.fixture
async def embedder():
    embedder = LocalEmbedder()
    yield embedder
    await embedder.close()


async def test_answers_agree_by_meaning_and_tool_calls_exactly(embedder) -> None:
    assert await answers_agree(completion("Paris is the capital of France."),
                               completion("The capital of France is Paris."), embedder)
    assert not await answers_agree(completion("Paris is the capital of France."),
                                   completion("Use the reset link in the settings page."), embedder)
    assert await answers_agree(completion(calls=[("kb", '{"q": "a", "n": 1}')]),
                               completion(calls=[("kb", '{"n": 1, "q": "a"}')]), embedder)
    assert not await answers_agree(completion(calls=[("kb", '{"q": "a"}')]),
                                   completion(calls=[("kb", '{"q": "b"}')]), embedder)
    assert not await answers_agree(completion("text"), completion(calls=[("kb", "{}")]), embedder)


def key(prompt: str, tenant: str = "t1", route: str = "faq"):
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="m", route=route, tenant=tenant)


async def policy_with(embedder, *, adaptive: AdaptiveThresholds | None = None, **config) -> CachePolicy:
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    learning = Learning(store, embedder, adaptive=adaptive, shadow_rate=0.0)
    settings = {"threshold": 0.2, "ttl_secs": 60, "sliding": True, "candidates": 5, **config}
    return CachePolicy(store, embedder, PolicyConfig(**settings), retry_secs=1, learning=learning)


async def test_feedback_bad_removes_the_answer_and_tightens_the_route(embedder) -> None:
    policy = await policy_with(embedder, adaptive=AdaptiveThresholds(start=0.2, ceiling=0.2))
    stored = key("How do I reset my password?")
    await policy.remember(stored, completion("Use the link."), Controls(), vector=None, api_key=None)
    hit = (await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)).hit
    assert hit is not None and hit.layer == "semantic" and hit.distance is not None
    await policy.learning.served("t1", hit.entry, hit.distance)
    assert not await policy.learning.feedback(Feedback(hit.entry, False), tenant="t2",
                                              shared=SHARED_TENANT)  # another tenant cannot touch it
    assert await policy.learning.feedback(Feedback(hit.entry, False), tenant="t1", shared=SHARED_TENANT)
    assert (await policy.lookup(stored, Controls(), api_key=None)).hit is None  # the answer is gone
    assert policy.learning.threshold("faq", 0.2) < hit.distance
    assert policy.learning.snapshot()["faq"]["bad"] == 1


async def test_a_near_miss_probe_becomes_evidence_for_loosening(embedder) -> None:
    policy = await policy_with(embedder, adaptive=AdaptiveThresholds(start=0.0, ceiling=0.3))
    await policy.remember(key("How do I reset my password?"), completion("Use the reset link."), Controls(),
                          vector=None, api_key=None)
    lookup = await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)
    assert lookup.hit is None and lookup.probe is not None  # too far for a strict route, close enough to learn
    fresh = completion("Use the reset link.")
    assert await policy.learning.judge("faq", lookup.probe.distance, lookup.probe.completion, fresh)
    assert policy.learning.threshold("faq", 0.3) > lookup.probe.distance
    assert (await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)).hit is not None


async def test_admission_after_two_asks_and_by_temperature(embedder) -> None:
    policy = await policy_with(embedder, admit_after=2, max_temperature=0.7)
    asked = key("What is Redis?")
    assert not await policy.remember(asked, completion("A store."), Controls(), vector=None, api_key=None)
    assert (await policy.lookup(asked, Controls(), api_key=None)).hit is None
    assert await policy.remember(asked, completion("A store."), Controls(), vector=None, api_key=None)
    assert (await policy.lookup(asked, Controls(), api_key=None)).hit is not None
    hot = key("Write a poem.")
    for _ in range(3):
        assert not await policy.remember(hot, completion("Roses."), Controls(), vector=None, api_key=None,
                                         temperature=1.2)
