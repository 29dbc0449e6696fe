"""What the embedder never sees. Its tokenizer drops control and format characters (NUL, zero-width spaces,
direction marks, soft hyphens, byte-order marks: Unicode categories Cc, Cf and the unassigned or private ones) and
strips accents and other combining marks, so "año" and "ano", or a password with and without a zero-width space,
embed identically (distance 0) while asking different things. The verifier compares the text the user sent
instead, in Unicode NFC, where a composed "é" and an "e" followed by a combining accent are the same text."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Whitespace as the tokenizer reads it: `str.isspace` also counts control characters (\v, \f, \x1c-\x1f, \x85),
# which the tokenizer drops, so "pass\vword" embeds as "password".
_SPACE = re.compile(r"[^\S\x0b\x0c\x1c-\x1f\x85]+")
_EDGES = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # punctuation that sticks to a word ("word?"), not part of it
# Letters with their marks (`\w` leaves combining marks out), up to whitespace or ASCII punctuation.
_WORD = re.compile(r"[^\s!-/:-@\[-`{-~¡¿«»]+")
_REPLACEMENT = "\ufffd"  # printable, yet dropped too


def normal(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def words_of(text: str) -> list[str]:
    """The lowercased words of a text, marks and all, between whitespace and ASCII punctuation."""
    return _WORD.findall(text.lower())


def hidden(text: str) -> frozenset[str]:
    """The words (between whitespace, lowercased) that hold a character the tokenizer drops."""
    if text.isprintable() and _REPLACEMENT not in text:  # no such character, nor any whitespace but " "
        return frozenset()
    return frozenset(chunk.strip(_EDGES).lower() for chunk in _SPACE.split(text)
                     if not chunk.isprintable() or _REPLACEMENT in chunk)


def _fold(word: str) -> str:
    """The word as the tokenizer reads it: without combining marks ("año" -> "ano", "が" -> "か")."""
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def marked(text: str) -> frozenset[tuple[str, str]]:
    """(unmarked, as written) for each lowercased word of an NFC text that has a combining mark."""
    if text.isascii():
        return frozenset()
    return frozenset((fold, word) for word in words_of(text)
                     if not word.isascii() and (fold := _fold(word)) != word)


@lru_cache(maxsize=256)  # asked only when one of two prompts has marks, for both
def _spellings(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The lowercased words of an NFC text, and the same without their marks."""
    words = frozenset(words_of(text))
    return words, frozenset(_fold(word) if not word.isascii() else word for word in words)


def accent_dropped(mine: frozenset[tuple[str, str]], text: str) -> bool:
    """Whether a word of mine with a mark is in `text` only without it, or with another ("año" vs "ano")."""
    if not mine:
        return False
    words, folds = _spellings(text)
    return any(word not in words and fold in folds for fold, word in mine)
