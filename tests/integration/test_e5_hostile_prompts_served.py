"""Client prompts aimed at the e5 embedder, through a served gateway on both stores: a German prompt of characters
that normalise long ("\ufdfa") is answered and cached, not the end of the process; a flood of long German prompts
past what may wait for e5 is answered in full (bypassing the cache past the limit, never an error), and German
paraphrases hit again once it has passed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.clients import ask

HOSTILE = "wie ist der " + "\ufdfa" * 300 + " " + "a" * 320
LONG = "Wie reiche ich die Steuererklärung online ein und welche Unterlagen brauche ich dafür? " * 12


def test_characters_the_engine_normalises_long_are_answered_and_cached(gateway, fake_upstream) -> None:
    assert ask(gateway, HOSTILE)[0] == "miss"
    state, headers, _ = ask(gateway, HOSTILE)
    assert (state, headers["x-cache-layer"]) == ("hit", "exact")
    assert httpx.get(f"{gateway.url}/healthz").json()["status"] == "ok"
    assert fake_upstream.calls() == 1


def test_a_flood_of_long_german_prompts_is_answered_in_full_and_the_cache_recovers(gateway, fake_upstream) -> None:
    def post(number: int) -> tuple[int, str | None]:
        response = httpx.post(f"{gateway.url}/v1/chat/completions", timeout=60,
                              headers={"authorization": "Bearer sk-client-one"},
                              json={"model": "gpt-4o-mini",
                                    "messages": [{"role": "user", "content": f"{number}. {LONG}"}]})
        return response.status_code, response.headers.get("x-cache")

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(post, range(24)))
    gateway.drain()
    assert {status for status, _ in answers} == {200}
    assert {state for _, state in answers} <= {"miss", "bypass"}
    ask(gateway, "Wie lange muss ich Eier kochen, damit sie hart werden?")
    state, headers, _ = ask(gateway, "Wie lange sollte man Eier kochen, bis sie hart sind?")
    assert (state, headers["x-cache-layer"]) == ("hit", "semantic")
    assert fake_upstream.calls() == 25
