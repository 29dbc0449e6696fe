"""Words spelt in two scripts at once: a Cyrillic "о" in "nоt" looks like the Latin one to a reader and to the
model that answers, but the embedder's tokenizer reads "n ##о ##t", which no rule knows for a negation and which
lies at distance 0.05 from the question without it ("Which foods are nоt healthy for dogs?" vs "Which foods are
healthy for dogs?"). No word of a real prompt mixes Latin letters with Cyrillic or Greek ones, so such a word must
stand in both prompts, spelt alike, like an invisible character or an accent (`text`)."""

from __future__ import annotations

import unicodedata
from functools import cache

from gateway.cache.verifier.text import words_of


@cache
def _script(letter: str) -> str:
    """The script a letter's Unicode name starts with: LATIN, CYRILLIC, GREEK, CJK, HIRAGANA..."""
    return unicodedata.name(letter, "?").split(" ", 1)[0]


def _scripts(word: str) -> int:
    return len({_script(char) for char in word if char.isalpha()})


def mixed(text: str) -> frozenset[str]:
    """The lowercased words of an NFC text whose letters belong to more than one script."""
    if text.isascii():  # most prompts: no letter's name to look up
        return frozenset()
    # Digits, marks and punctuation have no script of their own here: "x²", "año" and "l'eau" are one script.
    return frozenset(word for word in words_of(text) if not word.isascii() and _scripts(word) > 1)
