"""One caller's huge requests cost that caller, not everyone: huge prompts are matched exactly only, answers above
`MAX_ENTRY_BYTES` are served but never stored, and writes that fail or drag never make other callers bypass."""

from __future__ import annotations

import threading

import httpx
import redis

from tests.support.clients import PROMPT, ask


def test_huge_prompts_from_one_caller_never_make_another_bypass(make_gateway, fake_upstream) -> None:
    gateway = make_gateway("redis")
    assert ask(gateway, key="sk-victim")[0] == "miss"

    def flood(number: int) -> None:
        text = f"request {number} " + "lorem ipsum dolor sit amet " * 110_000  # ~3 MB, unique, echoed in the answer
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=body, timeout=60,
                              headers={"authorization": "Bearer sk-flooder"})
        assert response.status_code == 200

    flooders = [threading.Thread(target=flood, args=(number,)) for number in range(6)]
    for thread in flooders:
        thread.start()
    states = [ask(gateway, key="sk-victim")[0] for _ in range(25)]
    for thread in flooders:
        thread.join()
    states += [ask(gateway, key="sk-victim")[0] for _ in range(5)]
    assert states == ["hit"] * 30
    assert not gateway.gateway.policy.layers.store_guard.down
    with redis.Redis.from_url(gateway.settings.redis_url) as client:
        sizes = [client.memory_usage(found) or 0 for found in client.scan_iter(match=f"{gateway.settings.key_prefix}*")]
    assert max(sizes) < gateway.settings.max_entry_bytes  # nothing of the flood was stored


def test_answers_over_the_entry_limit_are_served_but_not_stored(make_gateway, store_kind, fake_upstream) -> None:
    gateway = make_gateway(store_kind, MAX_ENTRY_BYTES="8192", MAX_MERGED_BYTES="8192")
    long_question = "Summarise this: " + "the quick brown fox jumps over the lazy dog " * 120  # ~5 kB, echoed back
    assert [ask(gateway, long_question)[0] for _ in range(2)] == ["miss", "miss"]
    huge_answer = "Repeat this: " + "the quick brown fox jumps over the lazy dog " * 300  # an answer over 8 kB
    state, _, completion = ask(gateway, huge_answer)
    assert state == "bypass" and completion.choices[0].message.content.endswith("lazy dog ")
    assert [ask(gateway, PROMPT)[0] for _ in range(2)] == ["miss", "hit"]
    big_input = [f"text number {number} " * 40 for number in range(60)]  # its vectors: far over 8 kB
    for _ in range(2):  # relayed as it comes, neither held whole nor parsed nor stored
        response = httpx.post(f"{gateway.base_url}/embeddings", json={"model": "text-embedding-3-small",
                                                                       "input": big_input})
        assert response.status_code == 200 and response.headers["x-cache"] == "bypass"
        assert len(response.json()["data"]) == 60 and "content-length" not in response.headers
    small = {"model": "text-embedding-3-small", "input": "a few words", "dimensions": 8}
    assert [httpx.post(f"{gateway.base_url}/embeddings", json=small).headers["x-cache"] for _ in range(2)] == [
        "miss", "hit"]
