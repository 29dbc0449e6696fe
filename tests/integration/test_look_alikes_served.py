"""End to end, a served gateway misses on a prompt that differs from a cached one only where the embedder cannot
see (distance 0): an invisible character, an accent, one emoji for another; and that the embedder indeed sees no
difference (the verifier's rules against look-alikes: unit/test_verifier_look_alikes.py)."""

from __future__ import annotations

import httpx
import pytest

from gateway.embedding.local import LocalEmbedder


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


INVISIBLE_TO_THE_EMBEDDER = [
    ("Is correcthorse a strong passphrase?", "Is correct\u200bhorse a strong passphrase?"),
    ("What does año mean in Spanish?", "What does ano mean in Spanish?"),
    ("Write a short poem about 🐶", "Write a short poem about 🐱"),  # both [UNK]
]


@pytest.mark.parametrize(("cached", "asked"), INVISIBLE_TO_THE_EMBEDDER)
def test_the_embedder_sees_no_difference(cached: str, asked: str, embedder) -> None:
    assert float(embedder.embed_batch([cached])[0] @ embedder.embed_batch([asked])[0]) > 0.9999


def _ask(gateway, prompt: str) -> str:
    answer = httpx.post(f"{gateway.base_url}/chat/completions", headers={"authorization": "Bearer sk-client"},
                        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}, timeout=30)
    assert answer.status_code == 200
    gateway.drain()
    return answer.headers["x-cache"]


@pytest.mark.parametrize(("cached", "asked"), INVISIBLE_TO_THE_EMBEDDER)
def test_a_served_gateway_misses_where_only_the_user_sees_a_difference(make_gateway, fake_upstream, cached: str,
                                                                        asked: str) -> None:
    gateway = make_gateway("memory")
    assert _ask(gateway, cached) == "miss"
    assert _ask(gateway, asked) == "miss"
    assert _ask(gateway, cached.upper()) == "hit"  # case is no difference: served at distance 0
    assert fake_upstream.calls() == 2


# Near, not the same, to the embedder ("n ##о ##t": distance 0.05): within the threshold, so only the verifier tells
# a poisoned answer (what dogs must not eat) from the one asked for.
SPELT_IN_TWO_SCRIPTS = [("Which foods are n\u043et healthy for dogs?", "Which foods are healthy for dogs?")]


@pytest.mark.parametrize(("cached", "asked"), SPELT_IN_TWO_SCRIPTS)
def test_a_word_spelt_with_another_scripts_letter_is_no_hit(make_gateway, fake_upstream, cached: str, asked: str,
                                                            embedder) -> None:
    assert float(embedder.embed_batch([cached])[0] @ embedder.embed_batch([asked])[0]) > 0.9
    gateway = make_gateway("memory")
    assert _ask(gateway, cached) == "miss"
    assert _ask(gateway, asked) == "miss"
    assert fake_upstream.calls() == 2
