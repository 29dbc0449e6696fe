"""The freshness benchmark's workload: FAQ-style conversations, generated deterministically from a seed. A few
topics with Zipf popularity each open in one of a few wordings and go on with zero to two of a handful of likely
next questions (again Zipf, again paraphrased), so the same follow-ups recur after the same openings."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

# (wordings of the opening, [wordings of each likely next question, likeliest first])
TOPICS: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = (
    (("How do I reset my password?", "How can I reset my password?"),
     (("What if I no longer have access to my email?", "What if I cannot access my email anymore?"),
      ("How long is the reset link valid?",), ("Can I reuse an old password?",))),
    (("How do I cancel my subscription?", "How can I cancel my subscription?"),
     (("Will I get a refund for the rest of the month?",), ("Can I pause my subscription instead?",),
      ("What happens to my data after I cancel?",))),
    (("Which payment methods do you accept?", "What payment methods do you accept?"),
     (("Can I pay by bank transfer?",), ("Do you accept PayPal?",), ("Can I pay yearly instead of monthly?",))),
    (("How do I change my shipping address?",),
     (("Can I change the address after the order has shipped?",), ("How much does express shipping cost?",))),
    (("How do I export my data to CSV?", "How can I export my data as CSV?"),
     (("Can I schedule a daily export?",), ("Is there a limit on the number of rows?",))),
    (("How do I enable two-factor authentication?",),
     (("Which authenticator apps are supported?",), ("What if I lose my phone?",))),
    (("How do I invite a colleague to my workspace?",),
     (("How many members can a workspace have?",), ("Can I remove a member later?",))),
    (("Where can I download my invoices?",),
     (("Can I add my VAT number to an invoice?",), ("Can invoices be sent to another email address?",))),
    (("How do I delete my account?",),
     (("Can I recover a deleted account?",),)),
    (("What are your support hours?",),
     (("Do you offer phone support?",),)),
)


@dataclass(frozen=True)
class Conversation:
    start: float  # seconds after the replay begins
    turns: tuple[str, ...]  # the user's questions, in order


def _zipf(rng: random.Random, count: int, exponent: float = 1.1) -> int:
    weights = [1 / (rank + 1) ** exponent for rank in range(count)]
    return rng.choices(range(count), weights)[0]


def _wording(rng: random.Random, wordings: tuple[str, ...]) -> str:
    """Most users ask in the first wording; some in another."""
    return wordings[0] if len(wordings) == 1 or rng.random() < 0.75 else rng.choice(wordings[1:])


def conversations(count: int, seconds: float, seed: int = 16) -> list[Conversation]:
    """`count` conversations starting evenly over `seconds`."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        openings, follow_ups = TOPICS[_zipf(rng, len(TOPICS))]
        turns = [_wording(rng, openings)]
        for _ in range(rng.choices((0, 1, 2), (0.3, 0.45, 0.25))[0]):
            turns.append(_wording(rng, follow_ups[_zipf(rng, len(follow_ups), 1.5)]))
        made.append(Conversation(start=index * seconds / count, turns=tuple(dict.fromkeys(turns))))
    return made


def commonest(planned: list[Conversation], count: int) -> list[tuple[str, ...]]:
    """The `count` turn sequences (an opening, or an opening and its next questions) asked most often: what a
    warming file built from the workload's own traffic would hold."""
    tally: Counter[tuple[str, ...]] = Counter()
    for conversation in planned:
        for depth in range(1, len(conversation.turns) + 1):
            tally[conversation.turns[:depth]] += 1
    return [turns for turns, _ in tally.most_common(count)]
