"""Languages through the official OpenAI SDK against a served gateway, on both stores: an answer is served only
to a prompt in its language, a negation is a negation in German too, and a paraphrase in one language still hits."""

from __future__ import annotations

import pytest

from tests.support.clients import PROMPT, ask

# The same question as PROMPT ("How do I reset my password?") in other languages. The English embedder puts
# translations far apart (~0.76), so each is asked with a threshold everything is within: only the language stops it.
TRANSLATIONS = ["Comment réinitialiser mon mot de passe ?", "Wie setze ich mein Passwort zurück?",
                "¿Cómo restablezco mi contraseña?"]
EVERYTHING = {"x-cache-threshold": "2"}


@pytest.mark.parametrize("translation", TRANSLATIONS)
def test_an_english_answer_is_not_served_to_the_same_question_in_another_language(gateway, fake_upstream,
                                                                                   translation: str) -> None:
    ask(gateway, PROMPT)
    state, headers, _ = ask(gateway, translation, headers=EVERYTHING)
    assert state == "miss", headers
    assert ask(gateway, translation)[0] == "hit"  # its own answer is cached for it, under its own language
    assert fake_upstream.calls() == 2


def test_a_german_negation_is_not_served_the_plain_question(gateway, fake_upstream) -> None:
    ask(gateway, "Ist Kaffee gesund?")
    assert ask(gateway, "Ist Kaffee nicht gesund?")[0] == "miss"  # distance 0.06
    assert fake_upstream.calls() == 2


@pytest.mark.parametrize(("cached", "paraphrase"), [
    ("Wie kann ich mein Passwort zurücksetzen?", "Wie setze ich mein Passwort zurück?"),
    ("Hoe kan ik mijn wachtwoord wijzigen?", "Hoe wijzig ik mijn wachtwoord?"),
    ("Como faço para cancelar minha assinatura?", "Como cancelo minha assinatura?"),
])
def test_a_paraphrase_in_the_same_language_still_hits(gateway, fake_upstream, cached: str, paraphrase: str) -> None:
    _, _, first = ask(gateway, cached)
    state, headers, second = ask(gateway, paraphrase)
    assert state == "hit" and headers["x-cache-layer"] == "semantic"
    assert second.choices[0].message.content == first.choices[0].message.content
    assert fake_upstream.calls() == 1


def test_a_prompt_whose_language_cannot_be_told_is_matched_exactly_only(gateway, fake_upstream) -> None:
    ask(gateway, "weather paris")
    assert ask(gateway, "weather paris", headers=EVERYTHING)[0] == "hit"
    # No rule objects to the German one, and every distance is within the client's threshold: only the unknown
    # language keeps it from the English answer.
    assert ask(gateway, "wetter paris", headers=EVERYTHING)[0] == "miss"
    assert fake_upstream.calls() == 2
