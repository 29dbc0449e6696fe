"""The hit verifier on look-alikes a multilingual embedder puts closest: a translation asked the other way round,
names or words trading places around "naar", "von", "vers", a product or a language written in lowercase (each pair
in both directions). And the paraphrases the same rules must keep: a name one prompt writes as an adjective or
inside a compound."""

from __future__ import annotations

import pytest

from gateway.cache.verifier.brands import brands
from gateway.cache.verifier.lexicons import singular
from gateway.cache.verifier.rules import difference
from gateway.cache.verifier.tongues import tongues

TRANSLATED = [  # the same words; only the language asked for differs
    ("Wie sagt man das spanische Wort 'gato' auf Deutsch?", "Wie sagt man das deutsche Wort 'gato' auf Spanisch?"),
    ("Que signifie l'expression anglaise 'break a leg' en français ?",
     "Que signifie l'expression française 'break a leg' en anglais ?"),
    ("¿Qué significa la palabra francesa 'pain' en español?", "¿Qué significa la palabra española 'pain' en francés?"),
    ("O que significa a palavra alemã 'Bad' em português?", "O que significa a palavra portuguesa 'Bad' em alemão?"),
    ("Che cosa significa la parola tedesca 'Kind' in italiano?",
     "Che cosa significa la parola italiana 'Kind' in tedesco?"),
    ("Wat betekent het Franse woord 'pain' in het Nederlands?",
     "Wat betekent het Nederlandse woord 'pain' in het Frans?"),
]
TRADED = [  # what comes from where, and where it goes, swapped; names inside compounds, words inflected
    ("Hoe verhuis ik mijn Gmail-contacten naar Outlook?", "Hoe verhuis ik mijn Outlook-contacten naar Gmail?"),
    ("Wie übertrage ich meine WhatsApp-Chats nach Telegram?", "Wie übertrage ich meine Telegram-Chats nach WhatsApp?"),
    ("Hoe maak ik van een foto een pdf?", "Hoe maak ik van een pdf een foto?"),
    ("Wie rechne ich von einer monatlichen in eine jährliche Rate um?",
     "Wie rechne ich von einer jährlichen in eine monatliche Rate um?"),
    ("Kann man vom befristeten in ein unbefristetes Arbeitsverhältnis wechseln?",
     "Kann man vom unbefristeten in ein befristetes Arbeitsverhältnis wechseln?"),
    ("Hoe exporteer ik een Excel-bestand naar Google Sheets?",
     "Hoe exporteer ik een Google Sheets-bestand naar Excel?"),
    ("Welke formule maakt van decimalen hele getallen?", "Welke formule maakt van hele getallen decimalen?"),
]
SUBSTITUTED = [  # another product, service, shop or language, written in lowercase
    ("wie lösche ich meinen verlauf in chrome", "wie lösche ich meinen verlauf in firefox"),
    ("comment activer le mode sombre sur youtube", "comment activer le mode sombre sur netflix"),
    ("cómo recuperar mensajes borrados de telegram", "cómo recuperar mensajes borrados de whatsapp"),
    ("como cancelar a assinatura do spotify", "como cancelar a assinatura da netflix"),
    ("come si cambia la password di gmail", "come si cambia la password di hotmail"),
    ("hoe lang duurt de levering bij zalando.nl", "hoe lang duurt de levering bij amazon.nl"),
    ("how do i take a screenshot on a xiaomi", "how do i take a screenshot on a huawei"),
    ("how do i upgrade ubuntu to the latest release", "how do i upgrade fedora to the latest release"),
    ("welke app is beter voor videobellen, teams of skype", "welke app is beter voor videobellen, zoom of skype"),
    ("¿Es difícil aprender alemán?", "¿Es difícil aprender francés?"),
    ("qual é o prato típico da culinária japonesa?", "qual é o prato típico da culinária italiana?"),
    ("quanto è difficile imparare il tedesco?", "quanto è difficile imparare il russo?"),
    ("is spaans moeilijk om te leren?", "is duits moeilijk om te leren?"),
    ("Was sind typische französische Gerichte?", "Was sind typische spanische Gerichte?"),
]


@pytest.mark.parametrize(("one", "other"), TRANSLATED)
def test_a_translation_asked_the_other_way_round_is_stopped(one: str, other: str) -> None:
    assert difference(one, other) in ("direction", "order") and difference(other, one) in ("direction", "order")


@pytest.mark.parametrize(("one", "other"), TRADED)
def test_words_trading_places_around_a_direction_are_stopped(one: str, other: str) -> None:
    assert difference(one, other) in ("direction", "order") and difference(other, one) in ("direction", "order")


@pytest.mark.parametrize(("one", "other"), SUBSTITUTED)
def test_another_lowercase_product_or_language_is_stopped(one: str, other: str) -> None:
    assert difference(one, other) == "name" and difference(other, one) == "name"


SAME = [
    # a country and its adjective, a compound and its parts, a compound's head: one name
    ("¿Cuál es la comida típica de España?", "¿Cuál es la comida típica española?"),
    ("Qual é a capital do Brasil?", "Qual é a capital brasileira?"),
    ("Quali sono i piatti tipici della Germania?", "Quali sono i piatti tipici tedeschi?"),
    ("Wie starte ich in Kubernetes einen Pod neu?", "Wie starte ich einen Kubernetes-Pod neu?"),
    ("Brauche ich für Japan einen Reisepass?", "Brauche ich einen Pass für Japan?"),
    # the same direction, said in other words, or a product named in another case
    ("¿Cómo se dice 'gato' en inglés?", "¿Cuál es la traducción de 'gato' al inglés?"),
    ("Hoe zet ik mijn foto's over naar een nieuwe telefoon?", "Hoe verplaats ik mijn foto's naar een nieuwe telefoon?"),
    ("Wie komme ich am schnellsten nach Köln?", "Wie komme ich am schnellsten zum Bahnhof nach Köln?"),
    ("comment partager son écran sur teams", "comment partager mon écran sur Teams"),
    ("how do i install docker on ubuntu", "how do i install Docker on Ubuntu"),
    ("Hoeveel milliliter zit er in een glas wijn?", "Wat is de inhoud van een glas wijn in milliliter?"),
    # a fraction in words or in digits
    ("What is two thirds of 60?", "What is 2/3 of 60?"),
    ("Wie viel sind drei Viertel von 80?", "Wie viel sind 3/4 von 80?"),
    ("Combien font deux tiers de 90 ?", "Combien font 2/3 de 90 ?"),
    ("¿Cuánto son tres cuartos de 200?", "¿Cuánto son 3/4 de 200?"),
    ("Quanto são dois terços de 300?", "Quanto são 2/3 de 300?"),
    ("Quanto fanno tre quarti di 40?", "Quanto fanno 3/4 di 40?"),
    ("Hoeveel is twee derde van 90?", "Hoeveel is 2/3 van 90?"),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_a_same_question_naming_things_its_own_way_passes(one: str, other: str) -> None:
    assert difference(one, other) is None and difference(other, one) is None


@pytest.mark.parametrize(("word", "language", "named"), [
    ("española", "es", "es"), ("inglés", "es", "en"), ("deutschen", "de", "de"), ("engelse", "nl", "en"),
    ("tedeschi", "it", "de"), ("alemã", "pt", "de"), ("anglaise", "fr", "en"), ("Spanish".lower(), "en", "es"),
    ("engel", "nl", None), ("allem", "de", None), ("franco", "pt", None), ("data", "pt", None),
])
def test_a_language_or_country_is_one_concept_in_every_spelling(word: str, language: str, named: str | None) -> None:
    assert tongues(f"x {word.capitalize()}-y", language) == ({singular(word): named} if named else {})


def test_products_are_read_in_any_case_with_their_makers_and_web_addresses() -> None:
    assert brands("Move my Spotify-playlists to apple music, or buy at bol.com") == {"spotify", "apple-music",
                                                                                     "bol.com"}
    assert brands("the word edge, a switch, the opera") == frozenset()  # common words are left out


@pytest.mark.parametrize(("one", "other"), [
    ("What is two thirds of 60?", "What is 3/4 of 60?"),
    ("Wie viel sind drei Viertel von 80?", "Wie viel sind zwei Drittel von 80?"),
    ("¿Cuánto son tres cuartos de 200?", "¿Cuánto son 3 de 200?"),
    ("Quanto fanno tre quarti di 40?", "Quanto fanno 3/5 di 40?"),
])
def test_another_fraction_is_another_number(one: str, other: str) -> None:
    assert difference(one, other) == "number" and difference(other, one) == "number"


def test_a_compound_name_of_the_same_parts_in_another_order_is_another_name() -> None:
    one, other = "Is the Anglo-Egyptian treaty still valid?", "Is the Egyptian-Anglo treaty still valid?"
    assert difference(one, other) == "name" and difference(other, one) == "name"
