"""Adaptive thresholds, feedback, shadow verdicts and admission, on scripted sequences of events."""

from __future__ import annotations

import pytest

from gateway.cache.adaptive import AdaptiveThresholds
from gateway.cache.agreement import answers_agree
from gateway.cache.layers import CacheLayers, PolicyConfig
from gateway.cache.learning import RENEW_AFTER_MS, Feedback, Learning
from gateway.cache.scopes import MAX_ROUTES, MAX_SCOPES, Scope, ScopeState, ScopeTable, blob_key
from gateway.embedding.local import LocalEmbedder
from gateway.metrics.labels import OTHER
from gateway.store.memory import MemoryStore
from gateway.wire.canonical import SHARED_TENANT, chat_key
from gateway.wire.completion import CHAT_ANSWERS
from gateway.wire.controls import Controls


def completion(content: str | None = None, calls: list | None = None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [{"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": args}}
                                 for i, (name, args) in enumerate(calls)]
    return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


def test_a_scope_loosens_only_with_evidence_at_the_edge() -> None:
    adaptive = AdaptiveThresholds(start=0.04, ceiling=0.10, step=0.005)
    assert adaptive.next(0.04, 0.01, good=True) == 0.04  # far inside: says nothing about the edge
    assert adaptive.next(0.04, 0.05, good=True) == pytest.approx(0.055)  # a good would-be hit beyond it
    threshold = 0.055
    for _ in range(20):
        threshold = adaptive.next(threshold, threshold, good=True)
    assert threshold == 0.10  # never past the ceiling


def test_one_wrong_hit_tightens_below_it_at_once_but_never_below_the_floor() -> None:
    adaptive = AdaptiveThresholds(start=0.10, ceiling=0.10, step=0.005)
    assert adaptive.next(0.10, 0.08, good=False) == pytest.approx(0.075)
    assert adaptive.next(0.075, 0.06, good=False) == pytest.approx(0.055)
    # Identical vectors that were wrong (a case change) say the embedder cannot tell them apart: tightening to 0
    # would end the semantic layer, for everyone on a shared route. Half the start is as strict as it gets.
    assert adaptive.next(0.055, 0.0, good=False) == adaptive.floor == 0.05
    assert adaptive.next(0.05, 0.0, good=False) == 0.05


@pytest.fixture
async def embedder():
    embedder = LocalEmbedder()
    yield embedder
    await embedder.close()


def reply(content: str | None = None, calls: list | None = None):
    return CHAT_ANSWERS.reply(completion(content, calls))


async def test_answers_agree_by_meaning_and_tool_calls_exactly(embedder) -> None:
    assert await answers_agree(reply("Paris is the capital of France."),
                               reply("The capital of France is Paris."), embedder)
    assert not await answers_agree(reply("Paris is the capital of France."),
                                   reply("Use the reset link in the settings page."), embedder)
    assert await answers_agree(reply(calls=[("kb", '{"q": "a", "n": 1}')]),
                               reply(calls=[("kb", '{"n": 1, "q": "a"}')]), embedder)
    assert not await answers_agree(reply(calls=[("kb", '{"q": "a"}')]),
                                   reply(calls=[("kb", '{"q": "b"}')]), embedder)
    assert not await answers_agree(reply("text"), reply(calls=[("kb", "{}")]), embedder)


def key(prompt: str, tenant: str = "t1", route: str = "faq"):
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="m", route=route, tenant=tenant)


async def policy_with(embedder, *, adaptive: AdaptiveThresholds | None = None, **config) -> CacheLayers:
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    learning = Learning(store, embedder, adaptive=adaptive, shadow_rate=0.0)
    settings = {"threshold": 0.2, "ttl_secs": 60, "sliding": True, "candidates": 5, **config}
    return CacheLayers(store, embedder, PolicyConfig(**settings), retry_secs=1, learning=learning)


async def test_feedback_bad_removes_the_answer_and_tightens_the_route(embedder) -> None:
    # The paraphrase lies 0.01 away: a hit under 0.015, beyond the floor a bad rating may tighten to (0.0075).
    policy = await policy_with(embedder, adaptive=AdaptiveThresholds(start=0.015, ceiling=0.015))
    stored = key("How do I reset my password?")
    await policy.remember(stored, completion("Use the link."), Controls(), vector=None, api_key=None)
    hit = (await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)).hit
    assert hit is not None and hit.layer == "semantic" and hit.distance is not None
    await policy.learning.served("t1", hit.entry, hit.distance)
    assert not await policy.learning.feedback(Feedback(hit.entry, False), tenant="t2",
                                              shared=SHARED_TENANT)  # another tenant cannot touch it
    assert await policy.learning.feedback(Feedback(hit.entry, False), tenant="t1", shared=SHARED_TENANT)
    assert (await policy.lookup(stored, Controls(), api_key=None)).hit is None  # the answer is gone
    assert policy.learning.threshold(Scope("faq", "t1"), 0.2) < hit.distance
    assert policy.learning.threshold(Scope("faq", "t2"), 0.2) == 0.015  # another tenant's scope is untouched
    assert policy.learning.snapshot()["faq"]["bad"] == 1


async def test_a_near_miss_probe_becomes_evidence_for_loosening(embedder) -> None:
    policy = await policy_with(embedder, adaptive=AdaptiveThresholds(start=0.0, ceiling=0.3))
    await policy.remember(key("How do I reset my password?"), completion("Use the reset link."), Controls(),
                          vector=None, api_key=None)
    lookup = await policy.lookup(key("How can I reset my password?"), Controls(), api_key=None)
    assert lookup.hit is None and lookup.probe is not None  # too far for a strict route, close enough to learn
    fresh = completion("Use the reset link.")
    assert await policy.learning.judge(Scope("faq", "t1"), lookup.probe.distance,
                                        CHAT_ANSWERS.reply(lookup.probe.completion), CHAT_ANSWERS.reply(fresh))
    assert policy.learning.threshold(Scope("faq", "t1"), 0.3) > lookup.probe.distance
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


RIGHT, WRONG = (CHAT_ANSWERS.reply(completion("Paris is the capital of France.")),
                CHAT_ANSWERS.reply(completion("Use the reset link in the settings page.")))


async def test_a_worker_keeps_a_bounded_number_of_scopes_and_reads_a_forgotten_one_back(embedder) -> None:
    policy = await policy_with(embedder, adaptive=AdaptiveThresholds(start=0.1, ceiling=0.2))
    learning = policy.learning
    first = Scope("r0", "t1")
    assert not await learning.judge(first, 0.0, RIGHT, WRONG)
    assert learning.threshold(first, 0.2) == 0.05
    for i in range(1, MAX_SCOPES + 1):  # callers make up routes (and keys) at will
        await learning.sync(Scope(f"r{i}", "t1"))
    assert len(learning.scopes) == MAX_SCOPES and learning.scopes.get(first) is None
    await learning.sync(first)  # used again: what the store kept comes back
    assert learning.threshold(first, 0.2) == 0.05 and learning.snapshot()["r0"]["bad"] == 1


async def test_a_scope_in_use_has_its_stored_state_renewed_once_a_day(embedder) -> None:
    store = MemoryStore(max_entries=100)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    now = [1_000_000.0]
    scope = Scope("faq", "t1")

    def worker() -> Learning:
        return Learning(store, embedder, adaptive=AdaptiveThresholds(start=0.1, ceiling=0.2), shadow_rate=0.0,
                        clock=lambda: now[0])

    async def written_ms() -> int:
        return ScopeState().adopt(await store.get_blob(blob_key(scope)))

    await worker().judge(scope, 0.0, RIGHT, WRONG)
    assert await written_ms() == 1_000_000_000
    now[0] += RENEW_AFTER_MS / 1000 - 1
    await worker().sync(scope)  # used within the day: left as it is
    assert await written_ms() == 1_000_000_000
    now[0] += 1
    renewing = worker()
    await renewing.sync(scope)
    assert await written_ms() == now[0] * 1000 and renewing.threshold(scope, 0.2) == 0.05


def test_the_summary_is_per_route_over_its_tenants_and_bounded() -> None:
    table = ScopeTable()
    for i in range(MAX_ROUTES + 5):
        table.use(Scope(f"r{i:02d}", "t1")).good = 100 - i  # r00 the most judged
    for tenant, threshold in (("t2", 0.02), ("t3", 0.08)):
        state = table.use(Scope("r00", tenant))
        state.bad, state.threshold = 1, threshold
    table.use(Scope("unjudged", "t1"))
    summary = table.by_route(start=0.05)
    assert len(summary) == MAX_ROUTES + 1 and list(summary)[:2] == ["r00", "r01"] and "unjudged" not in summary
    # Three tenants' scopes: the start (nothing learnt), 0.02 and 0.08; never a tenant's name.
    assert summary["r00"] == {"good": 100, "bad": 2, "precision": 100 / 102, "scopes": 3, "threshold": 0.05}
    assert summary[OTHER]["good"] == sum(100 - i for i in range(MAX_ROUTES, MAX_ROUTES + 5))
    assert summary[OTHER]["scopes"] == 5
    assert table.by_route(start=None)["r00"]["threshold"] is None  # fixed thresholds: precision only
