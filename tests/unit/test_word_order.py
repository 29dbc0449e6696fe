"""The word-order measures the fitted score reads (`gateway.cache.verifier.word_order`), on tables."""

from __future__ import annotations

import random

import pytest

from gateway.cache.verifier.rules import _reading
from gateway.cache.verifier.word_order import bigram_overlap, common_order, flipped_share, order_agreement


@pytest.mark.parametrize(("mine", "theirs", "share"), [
    ({}, {}, 0.0),
    ({"a": 0, "b": 5}, {"a": 0, "b": 5}, 0.0),
    ({"a": 0, "b": 9}, {"a": 9, "b": 0}, 0.0),  # of two words, either moved explains a swap: the rules judge those
    # first and last traded: with one moved back, two pairs of six stay flipped
    ({"a": 0, "b": 4, "c": 9, "d": 12}, {"a": 12, "b": 4, "c": 9, "d": 0}, 2 / 6),
    ({"a": 0, "b": 1, "c": 9}, {"a": 1, "b": 0, "c": 9}, 0.0),  # neighbours traded places: a rephrasing
    # one phrase moved to the front ("In Lisbon, how do I get to the airport?"): undone, nothing flipped
    ({"get": 3, "airport": 6, "lisbon": 9}, {"lisbon": 1, "get": 5, "airport": 8}, 0.0),
    ({"get": 3, "airport": 6, "lisbon": 9}, {"get": 3, "lisbon": 5, "airport": 8}, 0.0),  # ... or anywhere
    # first and last traded around a middle word: moving one back still leaves one of three pairs flipped
    ({"a": 0, "b": 4, "c": 9}, {"c": 0, "b": 4, "a": 9}, 1 / 3),
    ({"a": 0, "b": 4}, {"a": 0, "c": 4}, 0.0),  # one word shared: no pair to order
])
def test_flipped_share(mine: dict[str, int], theirs: dict[str, int], share: float) -> None:
    assert flipped_share(mine, theirs) == pytest.approx(share)


@pytest.mark.parametrize(("a", "b", "overlap"), [
    ("a b c", "a b c", 1.0),
    ("a b c", "c b a", 0.0),
    ("a b c d", "a b d c", 1 / 5),  # {ab, bc, cd} and {ab, bd, dc}: one of five shared
    ("a", "b", 1.0),  # no bigrams on either side: nothing to disagree on
])
def test_bigram_overlap(a: str, b: str, overlap: float) -> None:
    assert bigram_overlap(a.split(), b.split()) == pytest.approx(overlap)


def _longest_common(a: list[str], b: list[str]) -> int:
    """The textbook dynamic programme, to check the bit-parallel one against."""
    previous = [0] * (len(b) + 1)
    for word in a:
        row = [0]
        for k, other in enumerate(b):
            row.append(previous[k] + 1 if word == other else max(previous[k + 1], row[k]))
        previous = row
    return previous[-1]


def test_common_order_is_the_longest_common_subsequence_over_the_shorter_length() -> None:
    chance = random.Random(7)
    for _ in range(500):
        a = [chance.choice("abcdefg") for _ in range(chance.randint(1, 70))]  # past 64 bits too
        b = [chance.choice("abcdefg") for _ in range(chance.randint(1, 70))]
        assert common_order(a, b) == pytest.approx(_longest_common(a, b) / min(len(a), len(b)))
    assert common_order([], ["a"]) == 0.0


@pytest.mark.parametrize(("one", "other"), [
    ("Which is healthier, rice or pasta?", "Which is healthier, pasta or rice?"),
    ("What is the time difference between New York and London?",
     "What is the time difference between London and New York?"),
])
def test_the_two_sides_of_a_list_are_in_one_order(one: str, other: str) -> None:
    assert order_agreement(_reading(one), _reading(other)) == [0.0, 1.0, 1.0]


def test_x_of_y_is_read_as_y_x_where_the_other_prompt_says_y_x() -> None:
    """"the capital of Australia" for "Australia's capital" (the reading drops the "'s"): every word of the shorter
    in order; with no "Y X" on the other side, "X of Y" stays as it is."""
    flipped, _, common = order_agreement(_reading("What's Australia's capital?"),
                                         _reading("What is the capital of Australia?"))
    assert (flipped, common) == (0.0, 1.0)
    assert order_agreement(_reading("What is the capital of Chile?"), _reading("What is Chile's largest city?"))[2] < 1


def test_names_of_several_words_are_ordered_word_by_word() -> None:
    """"Cai Feng" at the start is read as a word and a name, "Cai Mao" later as one name: split, the two prompts
    share "feng" and "mao", in opposite order."""
    swapped = order_agreement(_reading("Cai Feng had a son, Cai Mao."), _reading("Cai Mao had a son, Cai Feng."))
    assert swapped[0] > 0
    assert order_agreement(_reading("Cai Feng had a son, Cai Mao."), _reading("Cai Feng had a son, Cai Mao.")) == [
        0.0, 1.0, 1.0]
