"""Symbols for the hit verifier: code operators and file or language names, which a sentence embedding reads as
a few punctuation marks ("What does == mean?" vs "What does === mean?": distance 0.01).

An operator is a run of symbol characters read as one ("!==", "->", "+=", "≤" as "<="), a name is a word glued
to dots, pluses or hashes ("invoice.pdf.exe", ".ts", "C++"). Prose punctuation is neither: a sentence's "?" or
"..." says nothing, and an operator written out ("2 plus 2" for "2+2") is no difference either, so the rules
object to an operator or name swapped for another, not to one that is only left out."""

from __future__ import annotations

import re

_RUN = re.compile(r"[!#$%&*+\-./:;<=>?@\\^|~–−≤≥≠×÷]+")  # symbols, read together
_OPERATOR_CHARS = frozenset("=<>&|+*%^~\\÷")
# Signs outside ASCII read as the operator they spell, so "3 ≤ 4" asks what "3 <= 4" does and not "3 ≥ 4".
_SPELT = str.maketrans({"≤": "<=", "≥": ">=", "≠": "!=", "×": "*"})
OPERATOR_SIGNS = frozenset("≤≥≠×÷−")  # the symbols outside ASCII this rule reads
_DASHES = frozenset({"-", "--", "–", "−"})
_PROSE = frozenset(".,;:?!")
_PROSE_END = ".,;:?!"  # sentence punctuation a run may end with ("=?", "==.")
_PROSE_START = ".,;:?"
# A word glued to a dot, plus or hash, or a dotted extension: "file.tar.gz", ".js", "C++", "C#", "node.js".
_GLUED = re.compile(r"[\w#+.]*[#+.][\w#+.]*")
_GLUED_LETTER = re.compile(r"[^\W\d_]")
_LANGUAGE_SUFFIXES = ("++", "#")  # "C++" and "C#" are other languages than "C"


def operators(text: str) -> frozenset[str]:
    """The operators a prompt writes: "a <= b && c" -> {"<=", "&&"}."""
    found = set()
    for match in _RUN.finditer(text):
        run, start, end = match.group(), match.start(), match.end()
        trimmed = run.rstrip(_PROSE_END).lstrip(_PROSE_START).translate(_SPELT)
        if trimmed and not _OPERATOR_CHARS.isdisjoint(trimmed):
            found.add(trimmed)
        elif run in _DASHES and _number_at(text, start, -1) and _number_at(text, end, 1):
            found.add("-")  # one operator, whether it subtracts or spans a range ("5-3", "1854 -- 1932")
        elif run == "--" and (_word_at(text, start - 1) or _word_at(text, end)):
            found.add(run)  # "x--" decrements; a spaced "--" is a dash
        elif len(run) > 1 and _PROSE.issuperset(run) and not (_word_at(text, start - 1) and not _word_at(text, end)):
            found.add(run)  # "a ?? b", "A::B", "?." and "..." as operators, not a sentence's "why?!" or "so..."
    return frozenset(found)


def _word_at(text: str, at: int) -> bool:
    return 0 <= at < len(text) and (text[at].isalnum() or text[at] == "_")


def _number_at(text: str, at: int, step: int) -> bool:
    """Whether a number (or a bracket) is next to `at`, past spaces, going `step`-wise."""
    at = at if step > 0 else at - 1
    while 0 <= at < len(text) and text[at] == " ":
        at += step
    return 0 <= at < len(text) and (text[at].isdigit() or text[at] in "()")


def glued(text: str) -> frozenset[str]:
    """File names, extensions and names spelt with symbols, lowercased: "Open Invoice.PDF." -> {"invoice.pdf"}."""
    found = set()
    for chunk in text.split():
        if "." in chunk or "+" in chunk or "#" in chunk:
            for token in _GLUED.findall(chunk):
                token = token.rstrip(".").lower()
                if _GLUED_LETTER.search(token) and not token.isalnum():
                    found.add(token)
    return frozenset(found)


def swapped(mine: frozenset[str], theirs: frozenset[str]) -> bool:
    """Whether each side has one the other lacks: a substitution, not an omission."""
    return bool(mine - theirs) and bool(theirs - mine)


def language_dropped(mine: frozenset[str], their_words: frozenset[str], theirs: frozenset[str]) -> bool:
    """Whether a name like "C++" is only mine while the other prompt has the bare "C"."""
    return any(name.endswith(_LANGUAGE_SUFFIXES) and name not in theirs and name.rstrip("+#") in their_words
               for name in mine)
