"""Inflections cut from a word, so that the forms one word takes for gender, number and case compare equal: "von der
gesetzlichen in die private" and "von der privaten in die gesetzliche" name the same two things the other way
round, which a comparison of the words as written does not see."""

from __future__ import annotations

# Per language, longest first: what an adjective or a noun adds for gender, number and case.
ENDINGS = {"de": ("en", "er", "es", "em", "e", "n", "s"), "nl": ("en", "e", "s"), "fr": ("es", "e", "s"),
           "es": ("os", "as", "es", "o", "a", "s"), "pt": ("os", "as", "es", "o", "a", "s"), "it": ("o", "a", "i", "e")}


def stem(word: str, endings: tuple[str, ...]) -> str:
    """`word` without the longest of `endings` that leaves four letters or more."""
    return next((word[:-len(end)] for end in endings if word.endswith(end) and len(word) - len(end) >= 4), word)
