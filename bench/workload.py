"""Prompts the benchmark sends: questions to cache, paraphrases that should hit them, and novel prompts."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import orjson

# (cached question, a paraphrase a user might send later)
PAIRS: tuple[tuple[str, str], ...] = (
    ("How do I reset my password?", "How can I reset my password?"),
    ("Explain the features of GPT5.", "Explain the features of GPT-5."),
    ("What is the capital of Australia?", "What's the capital of Australia?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What are the benefits of drinking green tea?", "What are the health benefits of green tea?"),
    ("How do I make a cup of pour-over coffee?", "How do you make pour-over coffee?"),
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


def body(prompt: str, *, stream: bool = False, model: str = "gpt-4o-mini") -> bytes:
    payload: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if stream:
        payload["stream"] = True
    return orjson.dumps(payload)


_WORDS = (
    "harbour", "lantern", "copper", "glacier", "violin", "orchard", "tractor", "saffron", "comet", "ledger",
    "mosaic", "falcon", "quarry", "tundra", "bagpipe", "citadel", "nectar", "pylon", "walrus", "gondola",
    "marzipan", "turbine", "quiver", "sextant", "basalt", "cobalt", "dynamo", "fjord", "hammock", "igloo",
    "jasmine", "kayak", "lagoon", "monsoon", "nebula", "obelisk", "pagoda", "quinoa", "rhubarb", "sapphire",
    "tapestry", "umbrella", "vortex", "wombat", "xylophone", "yodel", "zeppelin", "acorn", "bonsai", "cactus",
    "dolphin",
)


def novel_prompts(tag: str) -> Iterator[str]:
    """Prompts nobody asked before, far apart in meaning (random word sets): misses, not near-duplicates.
    A template with only a number changed would be a near-duplicate, which is a job for the verifier."""
    chooser = random.Random(tag)
    for number in itertools.count():
        words = ", ".join(chooser.sample(_WORDS, 6))
        yield f"({tag} {number}) Write one sentence linking {words}."
