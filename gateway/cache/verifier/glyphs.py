"""Symbols and number characters, which barely move a sentence embedding: "is 3 ≤ 4" and "is 3 ≥ 4" lie at distance
0.1, "x²" and "x³", "→" and "←", "★★★" and "★★" nearer still, and the tokenizer folds "∉" into "∈" (a mark it
strips). Vulgar fractions and Roman numerals are read as the numbers they are ("½" = "1/2", "Ⅳ" = "4"), for the
number rule; every other symbol outside ASCII must occur as often in both prompts, except those another rule
reads with their equivalents: units ("°F" = "Fahrenheit", "€" = "euro") and operators ("≤" = "<=")."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from gateway.cache.verifier.symbols import OPERATOR_SIGNS
from gateway.cache.verifier.words import UNITS

_SYMBOLS = frozenset({"Sm", "So", "Sc", "Sk", "No", "Nl"})  # math, other, currency, modifier; numbers not digits
_FRACTION_SLASH = "\u2044"


def _numerals() -> dict[str, str]:
    """Each vulgar fraction as "n/d", each Roman numeral as its value; padded with spaces, so "1½" is "1 1/2"."""
    spelt = {_FRACTION_SLASH: "/"}
    for char in map(chr, [0xBC, 0xBD, 0xBE, *range(0x2150, 0x218A)]):
        compatible = unicodedata.normalize("NFKC", char)
        if unicodedata.category(char) == "No" and not compatible.endswith(_FRACTION_SLASH):  # not "⅟": "1/" alone
            spelt[char] = f" {compatible.replace(_FRACTION_SLASH, '/')} "
        elif unicodedata.category(char) == "Nl":
            spelt[char] = f" {unicodedata.numeric(char):.0f} "
    return spelt


_SPELT = _numerals()
_NUMERAL = re.compile("[" + re.escape("".join(_SPELT)) + "]")
# Read by other rules with their equivalents: the unit rule's signs ("°", "£", "€"...) and the operator rule's.
_READ_ELSEWHERE = frozenset(c for unit in UNITS for c in unit if not c.isascii()) | OPERATOR_SIGNS


def numerals(text: str) -> str:
    """The text with its fractions and Roman numerals spelt as numbers: "Add ½ cup" -> "Add  1/2  cup"."""
    return text if text.isascii() or not _NUMERAL.search(text) else _NUMERAL.sub(lambda m: _SPELT[m.group()], text)


@cache
def _compared(char: str) -> bool:
    return not char.isascii() and unicodedata.category(char) in _SYMBOLS and char not in _READ_ELSEWHERE


def symbols(text: str) -> tuple[tuple[str, int], ...]:
    """Each symbol the rule compares, with how often it occurs: a multiset ("★★" is not "★★★")."""
    if text.isascii():
        return ()
    return tuple(sorted((char, text.count(char)) for char in set(text) if _compared(char)))
