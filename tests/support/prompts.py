"""Prompts of every length and kind (a question, a task, a greeting, a complaint), for the embedding tests."""

from __future__ import annotations

PROMPTS = [
    "How do I reset my password?",
    "What is the capital of Australia?",
    "Explain the difference between TCP and UDP in two sentences.",
    "Write a haiku about autumn.",
    "hi",
    "I was charged twice for the same subscription this month, can you refund one of the payments?",
    "How long should I boil an egg?",
    "Why is the sky blue?",
]
