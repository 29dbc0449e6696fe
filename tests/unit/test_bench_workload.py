"""The parts of the benchmark's workload whose mistakes would quietly change what it measures: fresh paraphrases
never repeat nor match a cached text, novel prompts differ, and the mix is mostly repeats (a short run of the
benchmark itself: integration/test_bench_smoke.py)."""

from __future__ import annotations

import itertools

from bench.workload import PAIRS, body, fresh_paraphrases, mix, novel_prompts, questions


def test_fresh_paraphrases_are_never_repeated_nor_a_cached_text() -> None:
    texts = list(itertools.islice(fresh_paraphrases("a"), 20_000))
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {text for pair in PAIRS for text in pair}
    assert list(itertools.islice(fresh_paraphrases("a"), 5)) == texts[:5]  # every service gets the same texts


def test_novel_prompts_differ_and_the_mix_is_mostly_repeats() -> None:
    novel = list(itertools.islice(novel_prompts("n"), 5000))
    assert len(set(novel)) == len(novel)
    bodies = mix("m", 2000, fresh_paraphrases("f"), novel_prompts("n"))
    repeats = sum(1 for b in bodies if b in {body(q) for q in questions()})
    assert 0.45 < repeats / len(bodies) < 0.55  # the rest: 20 % fresh paraphrases, 30 % novel
