"""How likely a semantic candidate asks what the query asks, once the hit verifier's rules have no objection: a
small tree ensemble over the cosine distance, the words the two prompts do not share, how far their word order
agrees (`word_order`) and whether the shared words keep their roles (`word_roles`).

The distance alone cannot tell "What are the best restaurants in Vancouver?" from "... in downtown Vancouver?";
what the prompts do not share, and how rare those words are, tells more. Rarity comes from the embedder's own
vocabulary, whose word pieces are numbered by frequency, so no word list ships. The trees (100, 8 leaves each)
were fit on the dev pairs that pass the rules within distance 0.20 (PAWS's look-alikes weighing more) and ship
as `trees.json`, with the score a candidate needs; the README gives their rates measured out-of-fold. A verdict
costs tens of µs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from gateway.cache.verifier.reading import Reading
from gateway.cache.verifier.tokens import vocabulary
from gateway.cache.verifier.word_order import order_agreement
from gateway.cache.verifier.word_roles import role_agreement
from gateway.cache.verifier.words import STOPWORDS

TREES = Path(__file__).with_name("trees.json")
_FIRST_WORD = 1996  # the vocabulary's words start here ("the"), after special tokens and single characters
_UNSEEN = math.log(30522) + 1.0  # a word the vocabulary splits into pieces is rarer than any it holds whole
_STEM = 5  # letters that make two words one for matching: "develop" ~ "development", "cure" ~ "cured"


def rarity(word: str) -> float:
    rank = vocabulary().get(word)
    if rank is None:
        return _UNSEEN
    return math.log(rank - _FIRST_WORD + 6) if rank >= _FIRST_WORD else 0.0


def _content(reading: Reading) -> frozenset[str]:
    return frozenset(word for word in reading.vocabulary if word.isalnum() and word not in STOPWORDS)


def _stems(reading: Reading) -> frozenset[str]:
    return frozenset(word[:_STEM] for word in reading.vocabulary if word.isalnum())


def features(query: Reading, cached: Reading, distance: float) -> list[float]:
    """In the order of `FEATURES`; the query's side first where the two differ."""
    stems, their_stems = _stems(query), _stems(cached)
    mine, theirs = _content(query), _content(cached)
    only_mine, only_theirs, shared = mine - theirs, theirs - mine, mine & theirs
    rare_mine, rare_theirs = sum(map(rarity, only_mine)), sum(map(rarity, only_theirs))
    rare_shared = sum(map(rarity, shared))
    lengths = len(query.words), len(cached.words)
    return [len(only_mine), len(only_theirs), len(shared), len(shared) / max(1, len(mine | theirs)),
            rare_shared / max(1e-9, rare_shared + rare_mine + rare_theirs), rare_mine, rare_theirs,
            max(rare_mine, rare_theirs), min(lengths) / max(1, *lengths), float(query.kind == cached.kind),
            max(map(rarity, only_mine | only_theirs), default=0.0),
            len(stems - their_stems), len(their_stems - stems), distance, *order_agreement(query, cached),
            *role_agreement(query, cached)]


FEATURES = ("only_query", "only_cached", "shared", "jaccard", "rare_shared_share", "rarity_only_query",
            "rarity_only_cached", "rarity_only_max", "length_ratio", "same_kind", "rarest_unshared",
            "stems_only_query", "stems_only_cached", "distance", "order_flipped", "bigram_overlap", "common_order",
            # `word_roles`
            "same_left", "same_right", "moved_context", "names_flipped", "any_name_flipped", "same_first_name",
            "shared_names", "clause_disagreement")


class Trees:
    """A fitted ensemble. Each leaf is kept as the path to it (its splits and the side taken at each), so one
    row is scored with a few array operations over all splits and leaves at once, not a walk per tree."""

    def __init__(self, path: Path = TREES) -> None:
        model = json.loads(path.read_text())
        if model["features"] != list(FEATURES):
            raise ValueError(f"{path} was fit on other features")
        self.threshold: float = model["threshold"]  # the score a candidate needs
        self.reach: float = model["reach"]  # the largest distance among the pairs fit: beyond it, no verdict
        self.base: float = model["base"]
        nodes = model["nodes"]  # per node: feature (-1: leaf), split, left, right, value
        splits = [i for i, node in enumerate(nodes) if node[0] >= 0]
        column = {node: n for n, node in enumerate(splits)}
        self._feature = np.array([nodes[i][0] for i in splits], dtype=np.int64)
        self._split = np.array([nodes[i][1] for i in splits], dtype=np.float64)
        paths: list[list[tuple[int, bool]]] = []
        values: list[float] = []
        pending: list[tuple[int, list[tuple[int, bool]]]] = [(root, []) for root in model["roots"]]
        while pending:
            at, taken = pending.pop()
            feature, _, left, right, value = nodes[at]
            if feature < 0:
                paths.append(taken)
                values.append(value)
            else:
                pending += [(left, [*taken, (column[at], True)]), (right, [*taken, (column[at], False)])]
        depth = max(map(len, paths))
        # Paths shorter than the deepest are padded with a split that always holds (the last column).
        # Step-major, so the check of every leaf's path is an AND of `depth` contiguous rows.
        self._path = np.full((depth, len(paths)), len(splits), dtype=np.intp)
        self._side = np.ones((depth, len(paths)), dtype=bool)
        for n, taken in enumerate(paths):
            for step, (split, side) in enumerate(taken):
                self._path[step, n], self._side[step, n] = split, side
        self._value = np.array(values, dtype=np.float64)
        self._holds = np.ones(len(splits) + 1, dtype=bool)

    def score(self, row: list[float]) -> float:
        """The probability, as fit, that the two prompts ask the same."""
        holds = self._holds.copy()
        holds[:-1] = np.asarray(row, dtype=np.float64)[self._feature] <= self._split
        reached = (holds.take(self._path) == self._side).all(axis=0)
        return 1.0 / (1.0 + math.exp(-(self.base + float(self._value[reached].sum()))))
