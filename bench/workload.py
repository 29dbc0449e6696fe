"""Prompts the benchmark sends: questions to cache, paraphrases that should hit them (repeated, or never seen
before), novel prompts that must miss, and a mix of all three."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache

import orjson

from gateway.embedding.model_files import vocabulary

# (cached question, a paraphrase a user might send later). Every paraphrase, and every fresh variant of it
# below, passes the gateway's hit verifier and lies within cosine distance 0.2 of its question (checked once
# with the local embedder: 4 of 6,000 sampled variants land just beyond 0.2).
PAIRS: tuple[tuple[str, str], ...] = (
    ("How do I reset my password?", "How can I reset my password?"),
    ("Explain the features of GPT5.", "Explain the main features of GPT5."),
    ("What is the capital of Australia?", "What's the capital of Australia?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What are the benefits of drinking green tea?", "What are the health benefits of green tea?"),
    ("How do I make a cup of pour-over coffee?", "How can I make a cup of pour-over coffee?"),
    ("What is the difference between TCP and UDP?", "What's the difference between TCP and UDP?"),
    ("How do I install Python on Windows?", "How can I install Python on Windows?"),
    ("What is a semantic cache?", "What is a semantic cache exactly?"),
    ("How do I change the language of my account?", "How can I change my account language?"),
    ("Why is the sky blue?", "Why does the sky look blue?"),
    ("What is the best way to learn SQL?", "What's the best way to learn SQL?"),
    ("How do I export my data as CSV?", "How can I export my data to CSV?"),
    ("Summarise the plot of Hamlet.", "Summarize the plot of Hamlet."),
    ("How long should I boil an egg?", "How long do I need to boil an egg?"),
    ("What does HTTP status 429 mean?", "What does the HTTP 429 status code mean?"),
    ("How do I enable two-factor authentication?", "How can I turn on two-factor authentication?"),
    ("What are good exercises for lower back pain?", "Which exercises are good for lower back pain?"),
    ("How do vaccines work?", "How do vaccines actually work?"),
    ("Write a haiku about autumn.", "Write a haiku about the autumn."),
)

# What users wrap a question in. 22 openings x 18 x 17 ordered closings x 40 bases: ~270,000 distinct texts.
_OPENINGS = (
    "", "Hi, ", "Hello, ", "Quick question: ", "Please tell me: ", "I'd like to know: ", "Hey there, ",
    "Sorry to bother you, but ", "I have a question. ", "Okay, so ", "Hi there! ", "One more thing: ",
    "I was wondering: ", "Tell me please: ", "So, ", "Question: ", "Help me out: ", "Excuse me, ", "Honestly, ",
    "Hey, ", "Right, ", "Now, ",
)
_CLOSINGS = (
    "", " Thanks.", " Thank you!", " Thanks a lot.", " Please answer briefly.", " Thanks in advance.",
    " I appreciate it.", " Much appreciated!", " Be concise.", " Many thanks.", " Briefly, please.", " Thx.",
    " Please.", " In simple terms.", " Explain simply.", " Short answer please.", " Appreciate your help.",
    " Cheers.",
)


def body(prompt: str, *, stream: bool = False, model: str = "gpt-4o-mini") -> bytes:
    payload: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if stream:
        payload["stream"] = True
    return orjson.dumps(payload)


def questions() -> list[str]:
    return [question for question, _ in PAIRS]


def paraphrases() -> list[str]:
    return [paraphrase for _, paraphrase in PAIRS]


def _wrapped(opening: str, text: str, closing: str) -> str:
    if opening and not opening.endswith(("? ", ". ", "! ", ": ")):
        text = text[0].lower() + text[1:]
    return opening + text + closing


def fresh_paraphrases(seed: str) -> Iterator[str]:
    """Paraphrases of the cached questions that no earlier request used, so each one costs the gateway a real
    embedding (its cache of recent prompt vectors cannot answer them). Never repeats within one iterator."""
    chooser = random.Random(seed)
    bases = [text for pair in PAIRS for text in pair]
    seen: set[str] = set()
    while True:
        text = _wrapped(chooser.choice(_OPENINGS), chooser.choice(bases), "".join(chooser.sample(_CLOSINGS, 2)))
        if text not in seen:
            seen.add(text)
            yield text


@cache
def _vocabulary() -> tuple[str, ...]:
    """~18,000 English words (the embedding model's whole-word pieces): random picks share little meaning."""
    return tuple(sorted(word for word in vocabulary() if word.isascii() and word.isalpha() and len(word) >= 5))


def novel_prompts(seed: str) -> Iterator[str]:
    """Prompts nobody asked before, far apart in meaning (five random words and no shared frame: the nearest of
    3,000 such prompts is at cosine similarity 0.72 at most), so they miss in any semantic cache at 0.8."""
    chooser = random.Random(seed)
    words = _vocabulary()
    while True:
        picked = chooser.sample(words, 5)
        yield f"{', '.join(picked[:4])} and {picked[4]}?".capitalize()


def mix(seed: str, count: int, fresh: Iterator[str], novel: Iterator[str]) -> list[bytes]:
    """~70 % repeats (50 % exact repeats of cached questions, 20 % fresh paraphrases of them), 30 % novel."""
    chooser = random.Random(seed)
    cached = questions()
    bodies = []
    for _ in range(count):
        draw = chooser.random()
        prompt = chooser.choice(cached) if draw < 0.5 else next(fresh) if draw < 0.7 else next(novel)
        bodies.append(body(prompt))
    return bodies
