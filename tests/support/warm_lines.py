"""A warming file's lines for the tests of `latency-slayer warm` and `/admin/warm`: one of each kind, a route, a
stream (asked whole), and a repeated line (a hit when the run sends one at a time)."""

from __future__ import annotations

from tests.support.clients import PROMPT, UNRELATED

LINES = [
    {"prompt": PROMPT, "model": "gpt-4o-mini"},
    {"prompt": UNRELATED, "model": "gpt-4o-mini", "route": "faq"},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is a TTL?"}], "stream": True},
    {"model": "gpt-4o-mini", "input": "Name a prime number."},
    {"prompt": PROMPT, "model": "gpt-4o-mini"},  # twice in the file: the second is a hit
]
QUESTIONS = [{"prompt": f"Question number {number}?"} for number in range(6)]  # alike, and as dear as each other
