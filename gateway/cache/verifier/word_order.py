"""How far two prompts' word order agrees, for the fitted score (`score`): PAWS-style look-alikes ("Cai Feng had a
son, Cai Mao" vs "Cai Mao had a son, Cai Feng") share every word and sit within 0.01 of each other, so what tells
them apart is order. Names of several words are read word by word here (a name at a sentence's start is not read
as one)."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

from gateway.cache.verifier.reading import Reading

#: Words compared, at most: a question's are far fewer (the pairs the score was fit on have up to ~110), and the
#: order of a 2,000-character prompt's 360 took ~0.8 ms to measure, this many ~0.2 ms.
WORDS = 120
# Connectors (`Lexicon.connectors`) that open a list rather than join its two sides: "between X and Y".
_OPENING = frozenset({"between", "zwischen", "entre", "tra", "fra", "tussen"})



def order_agreement(query: Reading, cached: Reading) -> list[float]:
    """`flipped_share`, `bigram_overlap` and `common_order` of the two prompts' first `WORDS` words."""
    a, b = _words(query)[:WORDS], _words(cached)[:WORDS]
    a, b = _owned(a, set(pairwise(b))), _owned(b, set(pairwise(a)))
    return [flipped_share(_anchors(a, query), _anchors(b, cached)), bigram_overlap(a, b), common_order(a, b)]


def _words(reading: Reading) -> list[str]:
    """Its words, the two sides of each "X and Y" in one order ("Python and JavaScript" = "JavaScript and Python":
    a list is the same in any order), then each word of a name of several on its own."""
    words = list(reading.words)
    joins = reading.lexicon.connectors
    for k in range(1, len(words) - 1):
        before, join, after = words[k - 1:k + 2]
        joining = join in joins and join.isalpha() and join not in _OPENING
        if joining and before[0].isalnum() and after[0].isalnum() and before > after:
            words[k - 1], words[k + 1] = after, before
    return [word for joined in words for word in joined.split(" ")]


def _owned(words: list[str], theirs: set[tuple[str, str]]) -> list[str]:
    """"X of Y" as "Y X" where the other prompt says "Y X": "the capital of Australia" for "Australia's capital",
    as the reading drops the "'s"."""
    k = 1
    while k < len(words) - 1:
        if words[k] == "of" and (words[k + 1], words[k - 1]) in theirs:
            words = [*words[:k - 1], words[k + 1], words[k - 1], *words[k + 2:]]
        k += 1
    return words


def _anchors(words: Sequence[str], reading: Reading) -> dict[str, int]:
    """Content words that occur once -> their position."""
    counts = Counter(words)
    stopwords = reading.lexicon.stopwords
    return {word: i for i, word in enumerate(words)
            if counts[word] == 1 and word[0].isalnum() and word not in stopwords}


def flipped_share(mine: dict[str, int], theirs: dict[str, int]) -> float:
    """The share of pairs of shared words (word -> position in each prompt) whose order differs (inversions), once
    a phrase moved to the front or the end is moved back: "In Lisbon, how do I get from the airport to the city
    centre?", "Australia's capital" for "the capital of Australia". A look-alike trades the roles of words clauses
    apart, which no one move undoes."""
    placed = sorted((i, theirs[word]) for word, i in mine.items() if word in theirs)
    pairs = len(placed) * (len(placed) - 1) // 2
    if not pairs:
        return 0.0
    order = _ranks([there for _, there in placed])
    first, last = _run(order, order.index(0)), _run(order, order.index(len(order) - 1))
    tries = [order, order[first[0]:first[1]] + order[:first[0]] + order[first[1]:],
             order[:last[0]] + order[last[1]:] + order[last[0]:last[1]]]
    return min(map(inversions, tries)) / pairs


def _ranks(values: Sequence[int]) -> list[int]:
    rank = {value: n for n, value in enumerate(sorted(values))}
    return [rank[value] for value in values]


def _run(order: Sequence[int], at: int) -> tuple[int, int]:
    """The stretch around `at` in the same order in both (ranks rising by one): a phrase that moved whole."""
    low, high = at, at + 1
    while low > 0 and order[low - 1] == order[low] - 1:
        low -= 1
    while high < len(order) and order[high] == order[high - 1] + 1:
        high += 1
    return low, high


def inversions(order: Sequence[int]) -> int:
    """Pairs of values out of order (the Kendall tau distance to the sorted order), in n log n."""
    seen: list[int] = []
    flips = 0
    for there in order:
        flips += len(seen) - bisect.bisect_right(seen, there)
        bisect.insort(seen, there)
    return flips


def bigram_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard similarity of the two prompts' word bigrams: swapped phrases break the bigrams at their edges."""
    mine, theirs = set(pairwise(a)), set(pairwise(b))
    union = len(mine | theirs)
    return len(mine & theirs) / union if union else 1.0


def common_order(a: Sequence[str], b: Sequence[str]) -> float:
    """The longest common subsequence of the two word sequences, as a share of the shorter one. Bit-parallel
    (Hyyrö 2004): one big-integer step per word of `b`, so 400 words cost tens of microseconds."""
    if not a or not b:
        return 0.0
    where: dict[str, int] = {}
    for i, word in enumerate(a):
        where[word] = where.get(word, 0) | 1 << i
    full = (1 << len(a)) - 1
    row = full  # a zero bit per position of `a` matched so far, along the best alignment
    for word in b:
        matched = row & where.get(word, 0)
        row = ((row + matched) | (row - matched)) & full
    return (len(a) - row.bit_count()) / min(len(a), len(b))
