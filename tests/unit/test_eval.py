"""`latency-slayer eval`: the rates it computes, and what it prints for a tiny labelled file run through the real
cache path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.evaluation import Outcome, Pair, rates, read_pairs, report, served_at, sweep

# (cached, arriving, is_duplicate), with the cosine distances the local embedder gives them
PAIRS = [
    ("How do I reset my password?", "How can I reset my password?", 1),  # 0.01
    ("Convert 72 °F to °C", "Convert 72 °C to °F", 0),  # 0.01, a look-alike only the verifier stops
    ("What is the capital of France?", "How do I bake sourdough bread?", 0),  # far apart
    ("Tell me a joke about cats", "Tell me a funny story about kittens", 1),  # 0.25, farther than the verifier's reach
]


def outcome(duplicate: bool, distance: float, objection: str | None = None) -> Outcome:
    return Outcome(duplicate, distance, objection, served=False, verify_us=0.0)


def test_rates_count_served_pairs_by_label() -> None:
    measured = rates(served=[True, False, True, False, True], duplicate=[True, True, False, False, False])
    assert (measured.false_hits, measured.different, measured.hits, measured.duplicates) == (2, 3, 1, 2)
    assert measured.false_hit_rate == pytest.approx(2 / 3) and measured.recall == 0.5
    assert rates(served=[], duplicate=[]).recall == 0.0


def test_the_sweep_serves_what_is_near_enough_and_not_vetoed() -> None:
    outcomes = [outcome(True, 0.01), outcome(False, 0.01, "order"), outcome(False, 0.5), outcome(True, 0.25)]
    assert served_at(outcomes, 0.12, verifier=False) == [True, True, False, False]
    assert served_at(outcomes, 0.12, verifier=True) == [True, False, False, False]
    (_, plain, verified), (_, wide_plain, wide_verified) = sweep(outcomes, [0.12, 0.3])
    assert (plain.false_hits, plain.hits, verified.false_hits, verified.hits) == (1, 1, 0, 1)
    assert (wide_plain.false_hits, wide_plain.hits, wide_verified.false_hits, wide_verified.hits) == (1, 2, 0, 2)


def test_the_verifiers_cost_is_reported_as_p50_and_p99_per_set_and_per_language() -> None:
    spent = {"de": [10.0, 20.0, 30.0], "fr": [100.0, 100.0, 400.0]}
    pairs = [Pair("a", "b", False, lang, "negation") for lang, costs in spent.items() for _ in costs]
    outcomes = [Outcome(False, 0.05, "negation", False, cost) for costs in spent.values() for cost in costs]
    lines = report("set.csv", outcomes, "now", pairs)
    # numpy's percentiles, interpolated: p99 of 10, 20, 30 is 29.8
    assert "verifier per candidate: p50 65 µs, p99 385 µs;" in lines[3]
    assert next(line for line in lines if "language de" in line).endswith("verifier p50 20 µs, p99 30 µs")
    assert next(line for line in lines if "language fr" in line).endswith("verifier p50 100 µs, p99 394 µs")
    assert next(line for line in lines if "kind negation" in line).endswith("verifier p50 65 µs, p99 385 µs")


def test_a_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("q1,q2,label\na,b,1\n")
    with pytest.raises(ValueError, match="question1,question2,is_duplicate"):
        read_pairs(bad)


@pytest.fixture
def pairs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("CACHE_DISTANCE_THRESHOLD", "CACHE_VERIFIER", "SEMANTIC_CANDIDATES"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as file:
        csv.writer(file).writerows([("question1", "question2", "is_duplicate"), *PAIRS])
    return path


def test_eval_prints_the_rates_of_the_real_cache_path(pairs_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(pairs_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pairs.csv: 4 pairs (2 duplicates, 2 different)"
    # shipped defaults: the look-alike is vetoed, the kittens are too far
    assert "now: threshold 0.20, verifier" in lines[1]
    assert "false hits  0.00% (0/2)" in lines[1] and "hit recall  50.0% (1/2)" in lines[1]
    # the fixed cosine threshold every peer ships serves the look-alike
    assert "before: threshold 0.10, no verifier" in lines[2] and "false hits 50.00% (1/2)" in lines[2]
    assert lines[3].endswith("objections: order 1, name 1")  # the far-apart pair is left to the threshold
    assert lines[3].startswith("  verifier per candidate: p50 ") and " µs, p99 " in lines[3]
    sweep_at_030 = next(line for line in lines if line.strip().startswith("0.30"))
    # past the score's reach (0.20) only the rules judge: the kittens are served, the look-alike still is not
    assert sweep_at_030.split() == ["0.30", "50.00%", "100.0%", "0.00%", "100.0%"]


def test_eval_options_change_the_setting_under_test(pairs_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(pairs_file), "--no-verifier", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "pairs.csv: 3 pairs (1 duplicates, 2 different)"
    assert "no verifier" in lines[1] and "false hits 50.00% (1/2)" in lines[1]
    assert main(["eval", str(pairs_file), "--threshold", "0.3", "--no-verifier"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert "threshold 0.30, no verifier" in line and "false hits 50.00% (1/2)" in line and "100.0% (2/2)" in line
