"""Languages: which one a prompt is written in, that it is part of the semantic scope, and the hit verifier's rules
read in German, French, Spanish, Portuguese, Italian and Dutch (each pair in both directions)."""

from __future__ import annotations

import unicodedata

import pytest

from gateway.cache.verifier.lexicons import lexicon
from gateway.cache.verifier.reading import read
from gateway.cache.verifier.rules import difference
from gateway.language import language_of
from gateway.wire.canonical import chat_key

DETECTED = [
    ("What is the fastest way to learn to cook?", "en"),
    ("Convert 20 miles to kilometers", "en"),
    ("Is 23 a prime number?", "en"),
    ("What does 谢谢 mean in English?", "en"),  # mostly Latin letters: read for its words
    ("Warum ist der Himmel am Abend rot?", "de"),
    ("Welche Zutaten brauche ich für einen Apfelkuchen?", "de"),
    ("Pourquoi les feuilles changent-elles de couleur en automne ?", "fr"),
    ("Quel est le meilleur moment pour planter des tulipes ?", "fr"),
    ("¿Cuántas horas debe dormir un adulto?", "es"),
    ("¿Cuál es la mejor manera de aprender a nadar?", "es"),
    ("Quantas horas um adulto deve dormir por noite?", "pt"),
    ("Qual é a melhor forma de aprender a nadar?", "pt"),
    ("Quante ore deve dormire un adulto?", "it"),
    ("Qual è il modo migliore per imparare a nuotare?", "it"),
    ("Hoeveel uur moet een volwassene slapen?", "nl"),
    ("Wat is de beste manier om te leren zwemmen?", "nl"),
    ("成年人每天应该睡几个小时？", "zh"),
    ("大人は一日に何時間寝るべきですか？", "ja"),
    ("Сколько часов должен спать взрослый?", "cyrillic"),
]


@pytest.mark.parametrize(("prompt", "language"), DETECTED)
def test_the_language_of_a_prompt(prompt: str, language: str) -> None:
    assert language_of(prompt) == language


@pytest.mark.parametrize("prompt", ["Paris Berlin Rom", "2+2", "", "iPhone 15 Pro Max",
                                    "de la de la"])  # no evidence, or as much for several
def test_a_prompt_whose_language_cannot_be_told_is_undetermined(prompt: str) -> None:
    assert language_of(prompt) is None


def _key(prompt: str):
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="m", route="r", tenant="t")


def test_the_language_is_part_of_the_semantic_scope() -> None:
    english, french = _key("How long should I boil an egg?"), _key("Combien de temps faut-il cuire un œuf ?")
    assert english.prompt and french.prompt and english.context != french.context
    assert _key("How long should I boil eggs?").context == english.context


@pytest.mark.parametrize("prompt", ["Paris Berlin Rom", "成年人每天应该睡几个小时？", "大人は一日に何時間寝ますか？"])
def test_undetermined_chinese_and_japanese_prompts_are_matched_exactly_only(prompt: str) -> None:
    assert _key(prompt).prompt is None


SAME = [
    ("Wie lange dauert ein Flug von Berlin nach Rom?", "Wie lange dauert der Flug von Berlin nach Rom?"),
    ("Quelle est la capitale de l'Australie ?", "Quelle est la capitale de l'Australie?"),
    ("¿Cuántos litros de agua debo beber al día?", "¿Cuántos litros de agua tengo que beber al día?"),
    ("Quanto custa um passaporte novo?", "Quanto custa um novo passaporte?"),
    ("Come si prepara il tiramisù?", "Come si fa il tiramisù?"),
    ("Hoe lang moet ik een ei koken?", "Hoe lang moet je een ei koken?"),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_a_same_question_passes_the_rules(one: str, other: str) -> None:
    assert difference(one, other) is None and difference(other, one) is None


DIFFERENT = [
    ("Ist Kaffee gesund?", "Ist Kaffee nicht gesund?", "negation"),
    ("Braucht man ein Visum für Kanada?", "Braucht man kein Visum für Kanada?", "negation"),
    ("Le lait est-il bon pour les chats ?", "Le lait n'est-il pas bon pour les chats ?", "negation"),
    ("¿Es seguro nadar después de comer?", "¿No es seguro nadar después de comer?", "negation"),
    ("O ovo faz bem para a saúde?", "O ovo não faz bem para a saúde?", "negation"),
    ("Il pane è adatto ai celiaci?", "Il pane non è adatto ai celiaci?", "negation"),
    ("Is koffie gezond voor je?", "Is koffie niet gezond voor je?", "negation"),
    ("Wie viel wiegen zwei Liter Milch?", "Wie viel wiegen drei Liter Milch?", "number"),
    ("Combien coûtent 1,5 kg de pommes ?", "Combien coûtent 15 kg de pommes ?", "number"),
    ("¿Cuánto es el 10 % de 1.000?", "¿Cuánto es el 10 % de 100?", "number"),
    ("Quanto pesa una tonnellata e mezzo? 1,5", "Quanto pesa una tonnellata e mezzo? 2,5", "number"),
    ("Wanneer is het weer warm in mei?", "Wanneer is het weer warm in juni?", "date"),
    ("Quel temps fait-il à Lyon en janvier ?", "Quel temps fait-il à Lyon en juillet ?", "date"),
    ("¿Qué tiempo hace en Sevilla?", "¿Qué tiempo hace en Valencia?", "name"),
    ("Warum schläft man schlecht bei Vollmond?", "Wann schläft man schlecht bei Vollmond?", "question"),
    ("¿Por qué se cayó el Imperio romano?", "¿Cuándo se cayó el Imperio romano?", "question"),
    ("Como enviar dinheiro do Brasil para Angola?", "Como enviar dinheiro de Angola para o Brasil?", "direction"),
    ("Wie überweise ich Geld von Deutschland nach Polen?", "Wie überweise ich Geld von Polen nach Deutschland?",
     "direction"),
    ("Come sposto i file dal telefono al computer?", "Come sposto i file dal computer al telefono?", "direction"),
    ("Hoe zet ik muziek van mijn laptop naar mijn telefoon?", "Hoe zet ik muziek van mijn telefoon naar mijn laptop?",
     "direction"),
    ("Welche Vorteile hat ein Elektroauto?", "Welche Nachteile hat ein Elektroauto?", "opposite"),
    ("Quel est le mois le plus chaud à Rome ?", "Quel est le mois le plus froid à Rome ?", "opposite"),
    ("¿Es mejor comprar un coche nuevo?", "¿Es mejor comprar un coche viejo?", "opposite"),
    ("Quais são as vantagens do trabalho remoto?", "Quais são as desvantagens do trabalho remoto?", "opposite"),
    ("Come si accende la caldaia?", "Come si spegne la caldaia?", "opposite"),
    ("Wat is de snelste route naar Gent?", "Wat is de langzaamste route naar Gent?", "opposite"),
    # What the embedder's tokenizer drops or cannot read stays an objection in every language.
    ("Wie lautet das Passwort?", "Wie lautet das Pass\u200bwort?", "invisible"),
    ("Quel est le mot de passe ?", "Quel est le mot de\u00adpasse ?", "invisible"),
    ("¿Cuántos años tiene tu perro?", "¿Cuántos anos tiene tu perro?", "accent"),
    ("Que veut dire « résumé » ?", "Que veut dire « resume » ?", "accent"),
    ("Qual é o papel da avó na família?", "Qual é o papel do avô na família?", "accent"),
    ("Che cosa significa 👍 in una chat?", "Che cosa significa 👎 in una chat?", "unknown"),
    ("Wat betekent ✅ in een app?", "Wat betekent ❌ in een app?", "unknown"),
]


@pytest.mark.parametrize(("one", "other", "rule"), DIFFERENT)
def test_a_look_alike_is_stopped_in_its_language(one: str, other: str, rule: str) -> None:
    assert difference(one, other) is not None and difference(other, one) is not None
    # Swapped places are often seen by the order rules first.
    assert {rule, *(("order",) if rule == "direction" else ())} & {difference(one, other), difference(other, one)}


# Spelt so that the text as sent and the text the verifier compares (composed, numerals spelt) read differently:
# keyed Portuguese, a prompt read with English words lost its negation ("não") to the verifier.
DECOMPOSED = unicodedata.normalize("NFD", "Qual não é a capital do Brasil? What is it? nã")
NUMERALS = "Qual não é a capital do Brasil? whatⅠ isⅠ itⅠ theⅠ"


@pytest.mark.parametrize("prompt", [DECOMPOSED, unicodedata.normalize("NFD", "Qual é a melhor forma de nadar?")])
def test_a_decomposed_accent_does_not_change_the_language(prompt: str) -> None:
    assert language_of(prompt) == language_of(unicodedata.normalize("NFC", prompt))


@pytest.mark.parametrize("prompt", [DECOMPOSED, NUMERALS])
def test_the_verifier_reads_a_prompt_in_the_language_of_its_scope(prompt: str) -> None:
    assert read(prompt).lexicon is lexicon(language_of(prompt))


def test_a_negation_hidden_by_spelling_is_still_a_negation() -> None:
    assert language_of(NUMERALS) == "pt" and read(NUMERALS).negated
