"""The word-role measures the fitted score reads (`gateway.cache.verifier.word_roles`), on hand-written pairs: the
same words in the same roles, and the same words in other roles."""

from __future__ import annotations

import pytest

from gateway.cache.verifier.reading import Reading
from gateway.cache.verifier.rules import _reading
from gateway.cache.verifier.score import FEATURES, features
from gateway.cache.verifier.word_order import inversions
from gateway.cache.verifier.word_roles import clause_disagreement, names_order, neighbours, role_agreement

SAME = "Anna painted the old barn near the river in May, then sold it."


def _pair(one: str, other: str) -> tuple[Reading, Reading]:
    return _reading(one), _reading(other)


def test_a_prompt_agrees_with_itself_on_every_measure() -> None:
    a, b = _pair(SAME, SAME)
    assert neighbours(a, b) == [1.0, 1.0, 0.0]
    assert clause_disagreement(a, b) == 0.0
    assert names_order(a, b)[:3] == [0.0, 0.0, 1.0]


def test_a_modifier_moved_to_another_noun_has_other_neighbours() -> None:
    """"an old barn near the new mill" vs "a new barn near the old mill": every word shared, two in new places."""
    same_left, same_right, moved = neighbours(*_pair("Anna painted an old barn near the new mill.",
                                                     "Anna painted a new barn near the old mill."))
    assert moved > 0 and same_left < 1 and same_right < 1
    # The same words with another word put in front of one: its left neighbour changed, nothing moved.
    assert neighbours(*_pair("Anna painted an old barn.", "Anna painted an old red barn."))[2] == 0.0


def test_names_in_the_other_order_are_flipped() -> None:
    """"Lyon beat Nice" vs "Nice beat Lyon": one pair of names, in the other order, and another name first. (A
    capital that starts a sentence is not read as a name, so the query's names stand inside it.)"""
    assert names_order(*_pair("Last year Lyon beat Nice.", "Last year Nice beat Lyon.")) == [1.0, 1.0, 0.0, 2.0]
    assert names_order(*_pair("Last year Lyon beat Nice.", "Lyon beat Nice last year.")) == [0.0, 0.0, 1.0, 2.0]
    assert names_order(*_pair("How do I bake bread?", "How can I bake bread?")) == [0.0, 0.0, 1.0, 0.0]


def test_a_word_moved_across_a_comma_splits_pairs_that_stood_together() -> None:
    moved = clause_disagreement(*_pair("Omar was detained by police, then released in March.",
                                       "Omar was released by police, then detained in March."))
    # Anchors {omar, detained, police} {released, march} here, {omar, released, police} {detained, march} there: of
    # their 10 pairs, 3 stand together only here (detained-omar, detained-police, released-march), 3 only there.
    assert moved == pytest.approx(6 / 10)
    # Clauses traded whole keep their words together.
    assert clause_disagreement(*_pair("In March, Omar was released.", "Omar was released, in March.")) == 0.0


@pytest.mark.parametrize(("order", "flips"), [([], 0), ([0, 1, 2], 0), ([2, 1, 0], 3), ([1, 0, 2, 3], 1)])
def test_inversions_count_pairs_out_of_order(order: list[int], flips: int) -> None:
    assert inversions(order) == flips


def test_the_score_reads_every_measure_in_the_order_it_names_them() -> None:
    a, b = _pair("Last year Lyon beat Nice.", "Last year Nice beat Lyon.")
    row = features(a, b, 0.01)
    assert len(row) == len(FEATURES)
    assert row[FEATURES.index("same_left"):] == role_agreement(a, b)
    assert row[FEATURES.index("names_flipped")] == 1.0
