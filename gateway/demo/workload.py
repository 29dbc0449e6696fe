"""The demo's traffic: the bundled workload (package data) and a seeded plan of requests drawn from it, so
every run replays the same realistic mix of repeats, paraphrases, look-alikes and one-offs."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

SINGLE_SHARE = 0.15  # of requests that are a look-alike or a one-off, while some are left
STREAM_SHARE = 0.25  # of requests that ask for a streamed answer


@dataclass(frozen=True)
class Ask:
    route: str
    model: str
    prompt: str
    stream: bool


def load_workload() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((resources.files("gateway.demo") / "workload.json").read_text("utf-8"))
    return loaded


def plan(workload: dict[str, Any], count: int, *, seed: int = 7) -> list[Ask]:
    """`count` requests: mostly a topic drawn by popularity in one of its wordings, sometimes a question
    that must not hit (a look-alike, a one-off), each asked once."""
    chooser = random.Random(seed)
    topics = workload["topics"]
    weights = [topic["weight"] for topic in topics]
    singles = [*workload["lookalikes"], *workload["one_offs"]]
    chooser.shuffle(singles)
    asks = []
    for _ in range(count):
        stream = chooser.random() < STREAM_SHARE
        if singles and chooser.random() < SINGLE_SHARE:
            single = singles.pop()
            asks.append(Ask(single["route"], single["model"], single["prompt"], stream))
            continue
        topic = chooser.choices(topics, weights)[0]
        asks.append(Ask(topic["route"], topic["model"], chooser.choice(topic["prompts"]), stream))
    return asks
