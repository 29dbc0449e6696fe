"""Tenant isolation as an attacker would probe it: two API keys, the same prompts and paraphrases, the same
route, both layers, both stores, streamed and not; and nothing of either key or prompt in the event stream,
the dashboard or /metrics."""

from __future__ import annotations

import httpx

from bench.workload import PAIRS
from gateway.wire.canonical import tenant_digest
from tests.support.clients import ask, stream
from tests.support.events import raw_fields, served

ALICE, BOB = "sk-alice-0123456789abcdef", "sk-bob-fedcba9876543210"


def test_two_keys_never_share_an_answer(make_gateway, store_kind, fake_upstream) -> None:
    gateway = served(make_gateway, store_kind, CACHE_DISTANCE_THRESHOLD="0.3")  # loose: every paraphrase near
    pairs = PAIRS[:6]
    for question, _ in pairs:
        assert ask(gateway, question, key=ALICE)[0] == "miss"
    alice_hits = [ask(gateway, paraphrase, key=ALICE, headers={"cache-control": "no-store"})[0]
                  for _, paraphrase in pairs]
    assert alice_hits.count("hit") >= 4, alice_hits  # the control: these paraphrases do hit for their owner
    for question, paraphrase in pairs:
        for prompt in (question, paraphrase):
            state, headers, completion = ask(gateway, prompt, key=BOB, headers={"cache-control": "no-store"})
            assert state == "miss", (prompt, headers)
            assert completion.choices[0].message.content.endswith(f"to: {prompt}")  # Bob's own, fresh answer
        assert stream(gateway, paraphrase, key=BOB)[0] == "miss"
    for question, _ in pairs:  # and Bob's stored answers never reach Alice either
        assert ask(gateway, question, key=ALICE)[0] == "hit"
        assert ask(gateway, question, key=ALICE)[2].choices[0].message.content.endswith(f"to: {question}")

    secrets = [ALICE, BOB, tenant_digest(ALICE), tenant_digest(BOB), *(p for pair in pairs for p in pair)]
    views = [" ".join(value for entry in raw_fields(gateway) for value in entry.values()),
             httpx.get(f"{gateway.url}/dashboard/data?window=3600").text, httpx.get(f"{gateway.url}/metrics").text]
    assert [secret for secret in secrets for view in views if secret.lower() in view.lower()] == []
