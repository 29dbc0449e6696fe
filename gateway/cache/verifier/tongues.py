"""Languages and countries, however a prompt names them. Outside English, a language, a nationality and often a
country are written in lowercase ("la palabra inglesa", "al español"), so the name rule never sees them, and an
embedder reading these languages puts "the English word 'X' in Spanish" and "the Spanish word 'X' in English" at
distance 0.01. Each spelling maps to one concept, so "España", "español" and "española" agree (a Spanish question
may name the country where its paraphrase uses the adjective) and "inglesa" and "española" do not."""

from __future__ import annotations

import re
from functools import cache

from gateway.cache.verifier.lexicons import singular

# Per language: concept -> the starts of its words. A start matches a word that begins with it, so one start
# covers the inflected forms ("deutsch": deutsche, deutschen, Deutschland); starts that would catch other words
# ("engel" is an angel, "allem" is German for "all", "franco" is frank) are spelt out further.
_STARTS = {
    "en": {"en": "english england", "de": "german", "fr": "french france", "es": "spanish spain",
           "pt": "portuguese portugal", "it": "italian italy", "nl": "dutch netherlands holland",
           "br": "brazil", "ja": "japan", "zh": "chinese china", "ru": "russia"},
    "de": {"en": "englisch england engländer", "de": "deutsch", "fr": "französisch frankreich franzose",
           "es": "spanisch spanien", "pt": "portugiesisch portugal", "it": "italienisch italien",
           "nl": "niederländ niederlande holländ holland", "br": "brasilian brasilien", "ja": "japan",
           "zh": "chinesisch china", "ru": "russisch russland"},
    "fr": {"en": "anglais angleterre", "de": "allemand allemagne", "fr": "français france",
           "es": "espagnol espagne", "pt": "portugais portugal", "it": "italien italie",
           "nl": "néerlandais pays-bas hollandais hollande", "br": "brésil", "ja": "japon", "zh": "chinois chine",
           "ru": "russe russie"},
    "es": {"en": "inglés ingles inglesa inglaterra", "de": "alemán aleman alemana alemania",
           "fr": "francés frances francesa francia", "es": "español espanol española españa",
           "pt": "portugués portuguesa portugal", "it": "italiano italiana italia",
           "nl": "neerlandés holandés holandesa holanda", "br": "brasil", "ja": "japón japonés japonesa",
           "zh": "chino china", "ru": "ruso rusa rusia"},
    "pt": {"en": "inglês ingles inglesa inglaterra", "de": "alemão alemã alemanha",
           "fr": "francês frances francesa frança", "es": "espanhol espanhola espanha",
           "pt": "português portugues portuguesa portugal", "it": "italiano italiana itália",
           "nl": "holandês holandesa holanda neerlandês", "br": "brasil", "ja": "japão japonês japonesa",
           "zh": "chinês chinesa china", "ru": "russo russa rússia"},
    "it": {"en": "inglese inglesi inghilterra", "de": "tedesc germania", "fr": "frances francia",
           "es": "spagnol spagna", "pt": "portoghes portogallo", "it": "italian italia",
           "nl": "olandes olanda", "br": "brasil", "ja": "giappon", "zh": "cinese cina", "ru": "russo russa russia"},
    "nl": {"en": "engels engeland", "de": "duits", "fr": "frans frankrijk", "es": "spaans spanje",
           "pt": "portugees portugese portugal", "it": "italiaans italië", "nl": "nederlands nederland",
           "br": "brazilië braziliaans", "ja": "japan", "zh": "chinees chinese china", "ru": "russisch rusland"},
}


@cache
def _pattern(language: str | None) -> tuple[re.Pattern[str], dict[str, str]]:
    table = _STARTS.get(language or "en", _STARTS["en"])
    concepts = {start: concept for concept, starts in table.items() for start in starts.split()}
    # Longest first, so that a word is cut at the start that names it ("portugal" before "portug...").
    starts = "|".join(map(re.escape, sorted(concepts, key=len, reverse=True)))
    return re.compile(rf"\b({starts})[^\W\d_]*"), concepts


def tongues(text: str, language: str | None) -> dict[str, str]:
    """Each word of `text` (parts of a compound too) that names a language or a country in `language`, lowercased
    and singular as the reader spells words -> which: "la palabra española" -> {"española": "es"}."""
    pattern, concepts = _pattern(language)
    return {singular(match.group(0)): concepts[match.group(1)] for match in pattern.finditer(text.lower())}
