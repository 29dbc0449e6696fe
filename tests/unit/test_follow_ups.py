"""What prefetch learns of a context, with the real local embedder and the embedded store: paraphrases count as one
question, asked as first worded; the floors; a context's table stays bounded however many one-off questions a
caller makes up, and they cannot push out one that recurs; a table it cannot read is started afresh."""

from __future__ import annotations

import pytest

from gateway.cache.follow_ups import MAX_FOLLOW_UP_CHARS, MAX_FOLLOW_UPS, FollowUpConfig, FollowUps
from gateway.cache.prompt_vectors import PromptVectors
from gateway.embedding.local import LocalEmbedder
from gateway.guard import OutageGuard
from gateway.store.memory import MemoryStore

ASKED = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
MADE_UP = ["What is the capital of France?", "Which port does Redis listen on?", "Tell me a joke about cats.",
           "How tall is Mount Everest?", "Translate 'good morning' into Japanese.", "Who wrote Hamlet?",
           "What's a good recipe for pancakes?", "Explain quantum entanglement simply.", "When did World War II end?",
           "How many legs does a spider have?", "Recommend a sci-fi novel.", "What is the boiling point of water?",
           "How do vaccines work?", "Name three primary colours.", "What does HTTP 404 mean?"]


@pytest.fixture
async def embedder():
    embedder = LocalEmbedder()
    yield embedder
    await embedder.close()


def follow_ups_of(embedder, store: MemoryStore | None = None, **config) -> tuple[FollowUps, MemoryStore]:
    store = store or MemoryStore(1000)
    settings = {"min_prob": 0.5, "min_count": 2, "distance": 0.2, "ttl_ms": 60_000} | config
    guard = OutageGuard("test", 1.0)
    return FollowUps(store, PromptVectors(embedder, guard), guard, FollowUpConfig(**settings)), store


async def test_paraphrases_are_one_question_asked_as_first_worded(embedder) -> None:
    follow_ups, _ = follow_ups_of(embedder)
    await follow_ups.learn("ctx", ASKED, api_key=None)
    assert await follow_ups.likely("ctx") is None  # seen once: under the count floor
    await follow_ups.learn("ctx", PARAPHRASE, api_key=None)
    assert await follow_ups.likely("ctx") == ASKED
    assert await follow_ups.likely("another-ctx") is None


async def test_a_question_under_the_share_floor_is_not_likely(embedder) -> None:
    follow_ups, _ = follow_ups_of(embedder, min_prob=0.6)
    for text in (ASKED, ASKED, "What is the capital of France?", "Which port does Redis listen on?"):
        await follow_ups.learn("ctx", text, api_key=None)
    assert await follow_ups.likely("ctx") is None  # half of them


async def test_made_up_questions_keep_the_table_bounded_and_the_recurring_one(embedder) -> None:
    follow_ups, _ = follow_ups_of(embedder, min_prob=0.01)
    await follow_ups.learn("ctx", ASKED, api_key=None)
    await follow_ups.learn("ctx", ASKED, api_key=None)
    for text in MADE_UP:
        await follow_ups.learn("ctx", text, api_key=None)
    assert len(await follow_ups.table("ctx")) == MAX_FOLLOW_UPS
    assert await follow_ups.likely("ctx") == ASKED
    await follow_ups.learn("ctx", "x" * (MAX_FOLLOW_UP_CHARS + 1), api_key=None)  # not learnt at all
    assert all(len(row[0]) <= MAX_FOLLOW_UP_CHARS for row in await follow_ups.table("ctx"))


@pytest.mark.parametrize("blob", [b"not json", b'{"a": 1}', b'[["q", "not base64!", 1]]', b'[["q", "AAAA", 0]]',
                                  b'[["q", "AAAAAA==", 3]]'])  # the last: a vector of another dimension
async def test_a_table_it_cannot_read_is_started_afresh(embedder, blob: bytes) -> None:
    follow_ups, store = follow_ups_of(embedder)
    await store.put_blob("follow-ups:ctx", blob, ttl_ms=60_000)
    assert await follow_ups.likely("ctx") in (None, "q")
    await follow_ups.learn("ctx", ASKED, api_key=None)
    await follow_ups.learn("ctx", ASKED, api_key=None)
    assert await follow_ups.likely("ctx") == ASKED
