"""The language embedder through the official OpenAI SDK against a served gateway, on both stores: German, French
and Spanish paraphrases the local model puts beyond the 0.20 threshold hit once e5 embeds them, at a distance on
the threshold's scale; English is embedded by the local model as before; a translation is never served, though e5
puts it near; LANGUAGE_EMBEDDER=none is the local model for every language, and an index built with e5 is refused
by a gateway without it, as on any change of embedder."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.assembly import make_embedder, make_store, open_store
from gateway.errors import StartupError
from tests.support.clients import ask
from tests.support.gateway_server import settings_for

# Distances: the local model's, then e5's times its scale (3.0).
PARAPHRASES = [
    ("Wie lange muss ich Eier kochen, damit sie hart werden?",
     "Wie lange sollte man Eier kochen, bis sie hart sind?"),  # 0.246, 0.016
    ("Combien de temps faut-il pour cuire des pâtes ?", "Quel est le temps de cuisson des pâtes ?"),  # 0.278, 0.058
    ("¿Cuál es la mejor manera de aprender inglés rápido?",
     "¿Cómo puedo aprender inglés en poco tiempo?"),  # 0.360, 0.162
]
ENGLISH = ("How long should I boil eggs to make them hard?",
           "How long do you boil eggs until they are hard-boiled?")  # 0.084; e5 would say 0.061
EVERYTHING = {"x-cache-threshold": "2"}


@pytest.mark.parametrize(("cached", "paraphrase"), PARAPHRASES)
def test_a_paraphrase_the_local_model_cannot_reach_hits(gateway, fake_upstream, cached: str, paraphrase: str) -> None:
    _, _, first = ask(gateway, cached)
    state, headers, second = ask(gateway, paraphrase)
    assert (state, headers["x-cache-layer"]) == ("hit", "semantic"), headers
    assert float(headers["x-cache-distance"]) < 0.2
    assert second.choices[0].message.content == first.choices[0].message.content
    assert fake_upstream.calls() == 1


def test_distances_are_on_the_thresholds_scale(gateway, fake_upstream) -> None:
    # e5 puts them 0.098 apart, within the 0.20 threshold as it comes; scaled, 0.29: no rule objects, the scale does.
    ask(gateway, "Wie kann ich mein Fahrrad reparieren?")
    assert ask(gateway, "Wie kann ich mein Fahrrad verkaufen?")[0] == "miss"
    ask(gateway, "Wie kann ich mein Auto reparieren?")
    state, headers, _ = ask(gateway, "Wie kann ich mein Auto verkaufen?", headers={"x-cache-threshold": "0.4"})
    assert state == "hit" and 0.2 < float(headers["x-cache-distance"]) < 0.4  # a client's threshold: the same scale
    assert fake_upstream.calls() == 3


def test_without_the_language_embedder_they_miss(make_gateway, store_kind: str, fake_upstream) -> None:
    gateway = make_gateway(store_kind, LANGUAGE_EMBEDDER="none")
    for cached, paraphrase in PARAPHRASES:
        ask(gateway, cached)
        assert ask(gateway, paraphrase)[0] == "miss"
    assert fake_upstream.calls() == 2 * len(PARAPHRASES)
    assert httpx.get(f"{gateway.url}/healthz").json()["embedder"]["name"] == "all-MiniLM-L6-v2"


def test_english_is_embedded_by_the_local_model_as_before(make_gateway, store_kind: str) -> None:
    distances = []
    for setting in ("e5", "none"):
        gateway = make_gateway(store_kind, LANGUAGE_EMBEDDER=setting)
        ask(gateway, ENGLISH[0])
        state, headers, _ = ask(gateway, ENGLISH[1])
        assert (state, headers["x-cache-layer"]) == ("hit", "semantic")
        distances.append(headers["x-cache-distance"])
    assert distances[0] == distances[1] and abs(float(distances[0]) - 0.084) < 0.005


def test_a_translation_is_never_served_though_e5_puts_it_near(gateway, fake_upstream) -> None:
    ask(gateway, "Wie setze ich mein Passwort zurück?")
    for translation in ("Comment réinitialiser mon mot de passe ?", "¿Cómo restablezco mi contraseña?",
                        "How do I reset my password?"):  # e5 puts the English 0.085 away (0.256 scaled)
        assert ask(gateway, translation, headers=EVERYTHING)[0] == "miss"
    assert fake_upstream.calls() == 4


def test_health_names_both_embedders(gateway) -> None:
    embedder = httpx.get(f"{gateway.url}/healthz").json()["embedder"]
    assert embedder["ok"] and embedder["name"].startswith("all-MiniLM-L6-v2+multilingual-e5-small-q4:")
    (e5,) = embedder["languages"].values()
    assert e5["name"] == "multilingual-e5-small-q4" and e5["model_runs"] >= 1  # warmed up at start-up


async def test_an_index_built_with_e5_is_refused_without_it(redis_server) -> None:
    name = f"e5-{uuid.uuid4().hex[:10]}"
    env = {"REDIS_URL": redis_server.url, "INDEX_NAME": f"idx:{name}", "KEY_PREFIX": f"{name}:"}
    for setting, refused in (("e5", False), ("none", True)):
        settings = settings_for({**env, "LANGUAGE_EMBEDDER": setting})
        store, embedder = make_store(settings), make_embedder(settings, upstream=None)  # type: ignore[arg-type]
        try:
            if refused:
                with pytest.raises(StartupError, match="multilingual-e5-small-q4"):
                    await open_store(store, embedder)
            else:
                await open_store(store, embedder)
        finally:
            await store.close()
            await embedder.close()
