"""Fractions written in words. "Quanto são dois terços de 300?" and "Quanto são 2/3 de 300?" ask the same, yet
the number rule read the first as 2 and the second as 2/3. A number above one followed by one of these words is
read as that fraction ("dois terços" = "2/3", "three quarters" = "3/4"); "quartos" and "terzi" are ordinals too,
and stay ordinals after anything but a number. "Un tercio" (one, also an article) is left as it was."""

from __future__ import annotations

# Per language: the words for a denominator after a number above one, lowercased as written (plural where the
# language inflects them: "eighth in 1960 and in 1968 tenth" holds ordinals) -> its value.
_DENOMINATORS = {
    "en": "halves:2 thirds:3 quarters/fourths:4 fifths:5 sixths:6 eighths:8 tenths:10",
    "de": "halbe:2 drittel:3 viertel:4 fünftel:5 sechstel:6 achtel:8 zehntel:10",
    "fr": "demis:2 tiers:3 quarts:4 cinquièmes:5 sixièmes:6 huitièmes:8 dixièmes:10",
    "es": "medios:2 tercios:3 cuartos:4 quintos:5 sextos:6 octavos:8 décimos:10",
    "pt": "meios:2 terços:3 quartos:4 quintos:5 sextos:6 oitavos:8 décimos:10",
    "it": "mezzi:2 terzi:3 quarti:4 quinti:5 sesti:6 ottavi:8 decimi:10",
    "nl": "helften:2 derde/derden:3 kwart:4 vijfde/vijfden:5 zesde/zesden:6 achtste/achtsten:8 tiende/tienden:10",
}


def denominators(language: str) -> dict[str, str]:
    """The words that make a number before them a fraction in `language` -> the denominator ("terços" -> "3")."""
    return {word: value for entry in _DENOMINATORS[language].split() for value in [entry.partition(":")[2]]
            for word in entry.partition(":")[0].split("/")}
