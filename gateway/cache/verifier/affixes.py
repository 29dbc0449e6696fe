"""Opposites made with an affix, for the hit verifier: "install"/"uninstall", "legal"/"illegal",
"overpaid"/"underpaid", "upload"/"download", "careful"/"careless", "employer"/"employee". Such words need no
lexicon entry: a word only one prompt has is read as a root with a known prefix or suffix, and opposes the bare
root, or the same root with the counterpart affix, only the other prompt has."""

from __future__ import annotations

from functools import lru_cache

# Affixes that make a word's opposite, by the tag they are known by: the opposite is the root with the affix
# stripped (`_NEGATING`) or swapped for its counterpart (`_SWAPS`).
_PREFIX_SPELLINGS = """
un in im il ir non non- dis de de- anti anti- counter mis a over over- under under- up down out pre pre- post post-
hyper hypo micro macro sub super intra inter extra intro extro ex e en ac ap pro max min fore back front upper lower
inner outer white black left right north south hetero homo endo exo ana cata uni multi mono poly"""
_SUFFIX_SPELLINGS = "less -less ful -free er or ee in out up down east west"
_PREFIXES = {prefix: prefix.rstrip("-") for prefix in _PREFIX_SPELLINGS.split()}
_SUFFIXES = {suffix: "-" + suffix.lstrip("-") for suffix in _SUFFIX_SPELLINGS.split()}
# A negating affix against the bare word, needing this many letters left: "intake" is not "take" negated, nor
# "amount" "mount"; and the affixes that swap for one another.
_NEGATING = {"un": 4, "in": 4, "im": 4, "il": 4, "ir": 4, "non": 4, "dis": 4, "de": 4, "anti": 4, "counter": 4,
             "mis": 4, "-less": 4, "-free": 4, "a": 6}
_SWAPS = ("over/under up/down in/out pre/post hyper/hypo micro/macro sub/super intra/inter intra/extra "
          "inter/extra intro/extro in/ex im/ex e/im en/de en/dis in/de ac/de ap/de pro/de max/min fore/back "
          "front/back upper/lower inner/outer white/black left/right north/south hetero/homo endo/exo ana/cata "
          "uni/multi mono/poly -ful/-less -er/-ee -or/-ee -in/-out -up/-down -east/-west")


def _against() -> dict[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = {}
    for one, _, other in (pair.partition("/") for pair in _SWAPS.split()):
        table[one] = table.get(one, frozenset()) | {other}
        table[other] = table.get(other, frozenset()) | {one}
    return table


_AGAINST = _against()
_MIN_ROOT = 3  # "input"/"output", "subset"/"superset"
_PREFIX_LENGTHS = sorted({len(prefix) for prefix in _PREFIXES})
_SUFFIX_LENGTHS = sorted({len(suffix) for suffix in _SUFFIXES})


@lru_cache(maxsize=8192)  # the same words recur in prompt after prompt
def _affixed(word: str) -> tuple[tuple[str, str], ...]:
    """(root, affix) for each way of reading `word` as a root with a known affix: "uninstall" -> (("install",
    "un"), ("nstall", "uni"))."""
    if not (word.isalpha() or "-" in word):
        return ()
    found = []
    for length in _PREFIX_LENGTHS:
        if len(word) - length < _MIN_ROOT:
            break
        tag = _PREFIXES.get(word[:length])
        if tag is not None:
            found.append((word[length:], tag))
    for length in _SUFFIX_LENGTHS:
        if len(word) - length < _MIN_ROOT:
            break
        tag = _SUFFIXES.get(word[-length:])
        if tag is not None:
            found.append((word[:-length], tag))
    return tuple(found)


def _roots(words: frozenset[str]) -> dict[str, set[str]]:
    roots: dict[str, set[str]] = {}
    for word in words:
        for root, tag in _affixed(word):
            roots.setdefault(root, set()).add(tag)
    return roots


def affixes_opposed(only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    """A word only one side has, against the same root with an opposing affix only the other has: "install" vs
    "uninstall", "overpaid" vs "underpaid"."""
    roots_a, roots_b = _roots(only_a), _roots(only_b)
    for mine, their_words, theirs in ((roots_a, only_b, roots_b), (roots_b, only_a, {})):
        for root, tags in mine.items():
            if root in their_words and any(_NEGATING.get(tag, 99) <= len(root) for tag in tags):
                return True
            if root in theirs and any(_AGAINST.get(tag, frozenset()) & theirs[root] for tag in tags):
                return True
    return False
