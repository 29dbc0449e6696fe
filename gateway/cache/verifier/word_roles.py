"""Whether the words two prompts share keep their roles, for the fitted score (`score`). PAWS-style look-alikes
reuse every word in new roles ("Wright moved to New York from Chapel Hill" vs "Wright moved from New York to Chapel
Hill", "still in a uniformly rough state" vs "uniformly in a still rough state"), which the shared-word order of
`word_order` sees only in part. Without a parser, a word's role shows in what stands beside it, in which clause it
stands, and which of two names comes first. Each measure is one pass over the words, so together they cost ~25 µs
on a sentence of 30 words."""

from __future__ import annotations

from collections import Counter

from gateway.cache.verifier.reading import Reading
from gateway.cache.verifier.word_order import inversions

# What ends a clause for `clause_disagreement`: "Higgins left Southampton in August , returning to Cape Town".
_CLAUSE_ENDS = frozenset({",", ";", ":", "(", ")"})


def role_agreement(query: Reading, cached: Reading) -> list[float]:
    """The measures below, in the order of `score.FEATURES`."""
    return [*neighbours(query, cached), *names_order(query, cached), clause_disagreement(query, cached)]


def _beside(words: tuple[str, ...], i: int) -> tuple[str, str]:
    return (words[i - 1] if i > 0 else "^", words[i + 1] if i + 1 < len(words) else "$")


def neighbours(a: Reading, b: Reading) -> list[float]:
    """Of the anchors both share (content words that occur once), the shares with the same word on their left,
    on their right, and on neither side (a word moved into another phrase: "a still rough state" vs "a uniformly
    rough state")."""
    shared = [word for word in a.anchors if word in b.anchors]
    if not shared:
        return [1.0, 1.0, 0.0]
    left = right = neither = 0
    for word in shared:
        (mine_left, mine_right), (their_left, their_right) = (_beside(a.words, a.anchors[word]),
                                                              _beside(b.words, b.anchors[word]))
        left, right = left + (mine_left == their_left), right + (mine_right == their_right)
        neither += mine_left != their_left and mine_right != their_right
    return [left / len(shared), right / len(shared), neither / len(shared)]


def _name(word: str, reading: Reading) -> bool:
    return all(part in reading.names for part in word.split(" "))  # "cape town" is read as one word


def names_order(a: Reading, b: Reading) -> list[float]:
    """For the names both write once: the share of pairs of them in the other order ("A beat B" vs "B beat A"),
    whether any pair is, whether the first is the same, and how many there are."""
    order = [b.anchors[word] for word in a.words if word in a.anchors and word in b.anchors and _name(word, a)]
    pairs = len(order) * (len(order) - 1) // 2
    flipped = inversions(order)
    return [flipped / pairs if pairs else 0.0, float(flipped > 0), float(not order or min(order) == order[0]),
            float(len(order))]


def _clauses(reading: Reading) -> dict[str, int]:
    """Each anchor -> the number of the clause it stands in."""
    clause, found = 0, {}
    for word in reading.words:
        if word in _CLAUSE_ENDS:
            clause += 1
        elif word in reading.anchors:
            found[word] = clause
    return found


def clause_disagreement(a: Reading, b: Reading) -> float:
    """The share of pairs of shared anchors that stand in one clause in one prompt and in two in the other: a word
    moved across a comma ("detained by police, then released" vs "released by police, then detained")."""
    mine, theirs = _clauses(a), _clauses(b)
    shared = [word for word in mine if word in theirs]
    pairs = len(shared) * (len(shared) - 1) // 2
    if not pairs:
        return 0.0

    def together(groups: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in groups.values())

    # Pairs together in mine + together in theirs - 2 x together in both: together in exactly one of the two.
    both = together(Counter((mine[word], theirs[word]) for word in shared))
    apart = together(Counter(mine[word] for word in shared)) + together(Counter(theirs[word] for word in shared))
    return (apart - 2 * both) / pairs
