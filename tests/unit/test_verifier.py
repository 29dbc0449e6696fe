"""The hit verifier on hand-written pairs: paraphrases it must let through, look-alikes it must stop (each in both
directions, since either prompt may be the cached one), what a verdict costs, and its place in the policy."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from gateway.cache.layers import CacheLayers, PolicyConfig
from gateway.cache.learning import Learning
from gateway.cache.verifier.rules import READ_CHARS, HitVerifier, _reading, difference
from gateway.cache.verifier.score import FEATURES, Trees, rarity
from gateway.embedding.local import LocalEmbedder
from gateway.setting_table import SETTINGS
from gateway.store.memory import MemoryStore
from gateway.wire.canonical import chat_key
from gateway.wire.controls import Controls

SAME_QUESTION = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("Explain the features of GPT5.", "What are GPT5's features?"),
    ("Tell me a joke about cats", "Tell me a funny story about kittens"),
    ("Convert 72 °F to °C", "Convert 72 degrees Fahrenheit to Celsius"),
    ("What is 10% of 250?", "What is ten percent of 250?"),
    ("Is 17 a prime number?", "Is seventeen a prime number?"),
    ("How many ounces are in a pound?", "How many oz are in a lb?"),
    ("What is the difference between TCP and UDP?", "What is the difference between UDP and TCP?"),
    ("Is a tomato a fruit or a vegetable?", "Is a tomato a vegetable or a fruit?"),
    ("What is the time difference between New York and London?",
     "What is the time difference between London and New York?"),
    ("Who was the first president of the United States?", "Who was the first US president?"),
    ("In Python, how do I sort a dict by value?", "How do I sort a dict by value in Python?"),
    ("Why is the sky blue?", "What makes the sky blue?"),
    ("When was the Eiffel Tower built?", "What year was the Eiffel Tower built?"),
    ("My phone won't turn on. What should I do?", "What should I do if my phone doesn't turn on?"),
    ("What is the capital of Australia?", "What's Australia's capital?"),
    ("What Are The Best Books On Machine Learning?", "What are the best books on machine learning?"),
    ("How do I turn on Bluetooth in Windows 11?", "How can I enable Bluetooth in Windows 11?"),
]

DIFFERENT_QUESTION = [
    ("What is 15% of 80?", "What is 15% of 60?", "number"),
    ("Is 91 a prime number?", "Is 97 a prime number?", "number"),
    ("Who won the World Cup in 2014?", "Who won the World Cup in 2018?", "number"),
    ("What is the second largest city in Spain?", "What is the third largest city in Spain?", "number"),
    ("When is it noon in Tokyo if it is 9 am in London?", "When is it noon in Tokyo if it is 9 pm in London?",
     "number"),
    ("How long does it take to drive 300 km?", "How long does it take to drive 300 miles?", "unit"),
    ("How many ounces are in a cup?", "How many ounces are in a pint?", "unit"),
    ("What's the weather like in Paris in January?", "What's the weather like in Paris in July?", "date"),
    ("Which foods are high in iron?", "Which foods are not high in iron?", "negation"),
    ("Can I take ibuprofen with alcohol?", "Why can't I take ibuprofen with alcohol?", "negation"),
    ("How can I sleep with the lights on?", "How can I sleep without the lights on?", "negation"),
    ("When did World War II end?", "Why did World War II end?", "question"),
    ("Who invented the telephone?", "When was the telephone invented?", "question"),
    ("How many people live in Tokyo?", "Why do so many people live in Tokyo?", "question"),
    ("What is the population of Austria?", "What is the population of Australia?", "name"),
    ("How do I reset my iPhone?", "How do I reset my iPad?", "name"),
    ("How do I install Docker on Ubuntu?", "How do I install Docker on Windows?", "name"),
    ("How do I turn on dark mode in Chrome?", "How do I turn off dark mode in Chrome?", "opposite"),
    ("What are the advantages of remote work?", "What are the disadvantages of remote work?", "opposite"),
    ("How do I increase the font size in Word?", "How do I decrease the font size in Word?", "opposite"),
    ("What is the best gift you have ever given?", "What is the best gift you have ever received?", "opposite"),
    ("Convert 72 °F to °C", "Convert 72 °C to °F", "order"),
    ("Is Python faster than Java?", "Is Java faster than Python?", "order"),
    ("How do I convert JSON to CSV?", "How do I convert CSV to JSON?", "order"),
    ("How do I move files from Dropbox to Google Drive?", "How do I move files from Google Drive to Dropbox?",
     "order"),
    ("Did Apple buy Beats?", "Did Beats buy Apple?", "order"),
    ("Leeds beat Stoke and Derby before losing to Wigan in the final.",
     "Wigan beat Leeds and Derby before losing to Stoke in the final.", "order"),
]


@pytest.mark.parametrize(("one", "other"), SAME_QUESTION)
def test_a_paraphrase_passes_the_rules_both_ways(one: str, other: str) -> None:
    assert difference(one, other) is None
    assert difference(other, one) is None


@pytest.mark.parametrize(("one", "other", "rule"), DIFFERENT_QUESTION)
def test_a_look_alike_is_rejected_both_ways(one: str, other: str, rule: str) -> None:
    assert difference(one, other) == rule
    assert difference(other, one) is not None
    assert not HitVerifier().accepts(other, one, 0.0)  # a rule's objection stands at any distance


DEFAULT_THRESHOLD = next(setting.default for setting in SETTINGS if setting.env == "CACHE_DISTANCE_THRESHOLD")

# Pairs no rule objects to, for the fitted score: rewordings it must serve, and a qualifier added to the question
# (a narrower question, another answer) it must stop, within the default distance threshold.
REWORDED = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("What is the capital of Australia?", "What's Australia's capital?"),
    ("How do I sort a dict by value in Python?", "How can I sort a Python dict by value?"),
    ("What are the symptoms of diabetes?", "What are common symptoms of diabetes?"),
    ("What is the best way to learn guitar?", "What's the best way to learn the guitar?"),
    # a phrase moved to the front: the word order's measures undo one such move
    ("How do I get from the airport to the city centre in Lisbon?",
     "In Lisbon, how do I get from the airport to the city centre?"),
    ("How do I read a file in Python?", "In Python, how do I read a file?"),
    ("What is the best way to learn French as an adult?", "As an adult, what is the best way to learn French?"),
    ("What are the main differences between cats and dogs as pets?",  # a list in another order
     "What are the main differences between dogs and cats as pets?"),
]
NARROWED = [
    ("What are the best places to visit in Japan?", "What are the best places to visit in Japan in winter?"),
    ("How do I bake bread?", "How do I bake sourdough bread?"),
    ("What are good exercises for back pain?", "What are good exercises for lower back pain in pregnancy?"),
    ("How do I write a cover letter?", "How do I write a cover letter for an internship?"),
]


@pytest.fixture(scope="module")
def distance():
    embedder = LocalEmbedder()
    return lambda one, other: 1.0 - float(embedder.embed_batch([one])[0] @ embedder.embed_batch([other])[0])


@pytest.mark.parametrize(("one", "other"), REWORDED)
def test_the_score_serves_a_rewording_both_ways(one: str, other: str, distance) -> None:
    verifier = HitVerifier()
    assert verifier.accepts(one, other, distance(one, other))
    assert verifier.accepts(other, one, distance(other, one))


@pytest.mark.parametrize(("one", "other"), NARROWED)
def test_the_score_stops_a_narrower_question_both_ways(one: str, other: str, distance) -> None:
    verifier = HitVerifier()
    near = distance(one, other)
    assert near <= DEFAULT_THRESHOLD  # the distance alone would serve it
    assert difference(one, other) is None and difference(other, one) is None
    assert verifier.objection(one, other, near) == "score"
    assert verifier.objection(other, one, distance(other, one)) == "score"


# Names trading roles where no rule sees it (a name at a sentence's start is not read as one): the same words within
# 0.012 of each other, told apart by their order alone.
TRADED = [
    ("Anna Berg is the mother of the painter Lena Holm, a journalist.",
     "Lena Holm is the mother of the painter Anna Berg, a journalist."),
    ("Lin Wei had a younger brother, Lin Tao.", "Lin Tao had a younger brother, Lin Wei."),
    ("Ruth Adler was the teacher of the composer Jonas Weil in Vienna.",
     "Jonas Weil was the teacher of the composer Ruth Adler in Vienna."),
]


@pytest.mark.parametrize(("one", "other"), TRADED)
def test_the_score_stops_names_trading_roles_both_ways(one: str, other: str, distance) -> None:
    verifier = HitVerifier()
    near = distance(one, other)
    assert near <= 0.02  # the distance alone serves it at any threshold but the strictest
    assert difference(one, other) is None and difference(other, one) is None
    assert verifier.objection(one, other, near) == "score"
    assert verifier.objection(other, one, distance(other, one)) == "score"


def stumps(tmp_path: Path, threshold: float) -> Trees:
    """Two one-split trees by hand: +1 / -1 on the distance at 0.1, +0.5 / -0.5 on `only_query` at 1.5."""
    nodes = [[FEATURES.index("distance"), 0.1, 1, 2, 0.0], [-1, 0.0, 1, 1, 1.0], [-1, 0.0, 2, 2, -1.0],
             [FEATURES.index("only_query"), 1.5, 4, 5, 0.0], [-1, 0.0, 4, 4, 0.5], [-1, 0.0, 5, 5, -0.5]]
    path = tmp_path / "trees.json"
    path.write_text(json.dumps({"features": list(FEATURES), "threshold": threshold, "reach": 0.2, "base": 0.25,
                                "roots": [0, 3], "nodes": nodes}))
    return Trees(path)


def test_the_trees_add_up_the_leaves_each_row_reaches(tmp_path: Path) -> None:
    trees = stumps(tmp_path, 0.5)
    row = [0.0] * len(FEATURES)
    assert trees.score(row) == pytest.approx(1 / (1 + math.exp(-(0.25 + 1.0 + 0.5))))
    row[FEATURES.index("distance")], row[FEATURES.index("only_query")] = 0.15, 2
    assert trees.score(row) == pytest.approx(1 / (1 + math.exp(-(0.25 - 1.0 - 0.5))))


def test_trees_fit_on_other_features_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "trees.json"
    path.write_text(json.dumps({"features": ["distance"], "threshold": 0.5, "reach": 0.2, "base": 0.0, "roots": [0],
                                "nodes": [[-1, 0.0, 0, 0, 1.0]]}))
    with pytest.raises(ValueError, match="other features"):
        Trees(path)


def test_the_score_needed_is_the_one_shipped_with_the_trees(tmp_path: Path) -> None:
    query, cached = "How do I bake bread?", "How do I bake sourdough bread?"
    assert HitVerifier(stumps(tmp_path, 0.5)).objection(query, cached, 0.05) is None  # sigmoid(1.75)
    assert HitVerifier(stumps(tmp_path, 0.9)).objection(query, cached, 0.05) == "score"
    assert HitVerifier(stumps(tmp_path, 0.0)).objection("Is 91 prime?", "Is 97 prime?", 0.0) == "number"


def test_past_the_distances_it_was_fit_on_only_the_rules_judge(tmp_path: Path) -> None:
    verifier = HitVerifier(stumps(tmp_path, 0.9))  # a score no pair reaches
    assert verifier.objection("How do I bake bread?", "How do I bake bread at home?", 0.2) == "score"
    assert verifier.objection("How do I bake bread?", "How do I bake bread at home?", 0.21) is None
    assert verifier.objection("Is 91 prime?", "Is 97 prime?", 0.5) == "number"


def test_without_the_local_embedder_only_the_rules_judge() -> None:
    verifier = HitVerifier(scored=False)  # the score's distances are the local model's, not another embedder's
    assert verifier.objection("How do I bake bread?", "How do I bake bread at home?", 0.05) is None
    assert verifier.objection("Is 91 prime?", "Is 97 prime?", 0.05) == "number"


def test_rarity_follows_the_vocabulary_order() -> None:
    assert rarity("the") < rarity("bread") < rarity("sourdough")


def test_identical_prompts_pass() -> None:
    prompt = "Convert 72 °F to °C, and explain the formula in 3 steps."
    assert difference(prompt, prompt) is None


def test_past_what_it_reads_the_prompts_must_be_the_same_text() -> None:
    document = "The quarterly report says revenue grew. " * (READ_CHARS // 20)
    ask = "Summarise this document:\n"
    assert difference(ask + document + "Totals: 41.", ask + document + "Totals: 14.") == "tail"
    assert difference("Please summarise this document:\n" + document, ask + document) is None  # a shared tail


def test_a_verdict_costs_well_under_a_millisecond() -> None:
    pairs = [(one, other) for one, other in SAME_QUESTION] + [(one, other) for one, other, _ in DIFFERENT_QUESTION]
    verifier = HitVerifier()
    costs = []
    for _ in range(5):
        _reading.cache_clear()  # every prompt read afresh, as a query and a cached prompt seen for the first time
        for one, other in pairs:
            started = time.perf_counter()
            verifier.objection(one, other, 0.05)
            costs.append(time.perf_counter() - started)
    costs.sort()
    assert costs[len(costs) // 2] < 0.001


def key(prompt: str):
    return chat_key({"messages": [{"role": "user", "content": prompt}]}, model="m", route="default", tenant="t")


ANSWER = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
          "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "X."}}]}


async def test_a_vetoed_candidate_falls_through_to_the_next_then_to_a_miss() -> None:
    embedder = LocalEmbedder()
    store = MemoryStore(max_entries=10)
    await store.open(dim=embedder.dim, embedder=embedder.name)
    policy = CacheLayers(store, embedder, PolicyConfig(threshold=0.12, ttl_secs=60, sliding=True, candidates=5),
                         retry_secs=1, verifier=HitVerifier(),
                         learning=Learning(store, embedder, adaptive=None, shadow_rate=0.0))
    try:
        await policy.remember(key("Convert 72 °F to °C"), ANSWER, Controls(), vector=None, api_key=None)
        assert (await policy.lookup(key("Convert 72 °C to °F"), Controls(), api_key=None)).hit is None
        await policy.remember(key("Please convert 72 °C to °F"), ANSWER, Controls(), vector=None, api_key=None)
        # the vetoed look-alike is the nearer (distance 0.012, the paraphrase 0.027): the next candidate answers
        hit = (await policy.lookup(key("Convert 72 °C to °F"), Controls(), api_key=None)).hit
        assert hit is not None and hit.entry == key("Please convert 72 °C to °F").exact
    finally:
        await embedder.close()


async def test_in_the_policy_the_score_stops_a_narrower_question_the_distance_would_serve() -> None:
    embedder = LocalEmbedder()
    config = PolicyConfig(threshold=DEFAULT_THRESHOLD, ttl_secs=60, sliding=True, candidates=5)
    cached, narrower = NARROWED[0]
    try:
        for verifier, served in ((None, True), (HitVerifier(), False)):
            store = MemoryStore(max_entries=10)
            await store.open(dim=embedder.dim, embedder=embedder.name)
            policy = CacheLayers(store, embedder, config, retry_secs=1, verifier=verifier,
                                 learning=Learning(store, embedder, adaptive=None, shadow_rate=0.0))
            await policy.remember(key(cached), ANSWER, Controls(), vector=None, api_key=None)
            assert ((await policy.lookup(key(narrower), Controls(), api_key=None)).hit is not None) is served
            reworded = (await policy.lookup(key("Which are the best places to visit in Japan?"), Controls(),
                                            api_key=None)).hit
            assert reworded is not None  # while a rewording is served either way
    finally:
        await embedder.close()
