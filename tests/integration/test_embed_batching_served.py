"""EMBED_BATCH_WAIT_MS through a served gateway: its concurrent lookups share model runs (the batching itself, in
process: unit/test_embed_batching.py)."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.prompts import PROMPTS


async def test_the_setting_batches_a_gateway_s_concurrent_lookups(make_gateway) -> None:
    gateway = make_gateway("memory", EMBED_BATCH_WAIT_MS="40")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        before = (await client.get("/healthz")).json()["embedder"]
        assert before["batch_wait_ms"] == 40
        replies = await asyncio.gather(*(
            client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": f"{text} (batch test {i})"}]})
            for i, text in enumerate(PROMPTS)))
        after = (await client.get("/healthz")).json()["embedder"]
    assert [reply.status_code for reply in replies] == [200] * len(PROMPTS)
    assert {reply.headers["x-cache"] for reply in replies} == {"miss"}
    assert after["model_runs"] - before["model_runs"] < len(PROMPTS)
