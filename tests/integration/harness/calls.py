"""How the harness tests call the fake upstream: the official SDK without retries, and a short conversation."""

from __future__ import annotations

from typing import Any

import openai

from tests.support.fake_upstream import FakeUpstream


def client(upstream: FakeUpstream, key: str = "sk-test") -> openai.OpenAI:
    # No retries: a retried request would hide which injected behaviour the SDK actually saw.
    return openai.OpenAI(base_url=upstream.base_url, api_key=key, max_retries=0, timeout=10)


def ask(text: str) -> list[Any]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
