"""What the embedder's tokenizer cannot represent. Its vocabulary (BERT's, uncased) holds ~1,000 single characters;
a word holding any other character, or longer than 100 characters, becomes the one piece [UNK], the same for every
such word. So "reply with ✅" and "reply with ❌", two words of a script the vocabulary lacks (Ethiopic, Thai, most
simplified Chinese characters, emoji), "∀x" and "∃x" embed identically: distance 0, whatever they ask. The verifier
compares those words instead, cut and folded as the tokenizer cuts and folds them."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import cache

from gateway.embedding.model_files import max_input_chars_per_word, vocabulary

_ASCII_PUNCTUATION = frozenset(string.punctuation)  # the tokenizer cuts at these, symbols like "$" and "<" included
_REPLACEMENT = "\ufffd"  # dropped by the tokenizer like a control character (the invisible rule's business)
# Dropped by the tokenizer, with combining marks; unassigned code points (Cn) are [UNK], not dropped.
_IGNORED = frozenset({"Cc", "Cf", "Co", "Cs", "Mn"})
# Ideographs the tokenizer puts in a word of their own (BERT's ranges); kana and hangul stay in their word.
_IDEOGRAPHS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


@cache
def _long() -> re.Pattern[str]:
    """Text without whitespace longer than the longest word the tokenizer splits: it may hold a word made [UNK]."""
    return re.compile(rf"\S{{{max_input_chars_per_word() + 1},}}")


@cache
def _characters() -> frozenset[str]:
    # Each single character of the vocabulary is there both to start a word and ("##c") to continue one, so a word
    # splits into pieces exactly when each of its characters is one of these.
    return frozenset(piece for piece in vocabulary() if len(piece) == 1)


def _fold(text: str) -> str:
    """As the tokenizer reads it: without what it drops and without combining marks, lowercased."""
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if c != _REPLACEMENT and unicodedata.category(c) not in _IGNORED).lower()


@cache  # a prompt's distinct characters are few, and the same ones recur from prompt to prompt
def _unknown(char: str) -> bool:
    """Whether a word holding `char` becomes [UNK]. What the tokenizer drops (control, format and private-use
    characters, marks) folds to nothing, so it is not unknown: it is the invisible and accent rules' business."""
    return not char.isspace() and not _characters().issuperset(_fold(char))


def _ideograph(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _IDEOGRAPHS)


@cache
def _alone(char: str) -> bool:
    """Whether the tokenizer makes `char` a word of its own: punctuation, or an ideograph."""
    return char in _ASCII_PUNCTUATION or unicodedata.category(char)[0] == "P" or _ideograph(char)


def _words(chunk: str) -> list[str]:
    """The tokenizer's words in a chunk of text between whitespace."""
    words: list[str] = []
    start = 0
    for at, char in enumerate(chunk):
        if _alone(char):
            words += [chunk[start:at], char]
            start = at + 1
    words.append(chunk[start:])
    return [word for word in words if word]


def unknown(text: str) -> tuple[str, ...]:
    """The words the tokenizer turns into [UNK], folded as it reads them, sorted: a multiset to compare."""
    limit = max_input_chars_per_word()
    odd = frozenset() if text.isascii() else frozenset(c for c in set(text) if _unknown(c))
    if not odd and not _long().search(text):
        return ()
    found, known = [], _characters()
    for chunk in text.split():
        if len(chunk) > limit or not odd.isdisjoint(chunk):
            # Cut after folding: "a≯b" folds to "a>b" (the mark stripped), three words.
            found += [word for word in _words(_fold(chunk)) if len(word) > limit or not known.issuperset(word)]
    return tuple(sorted(found))
