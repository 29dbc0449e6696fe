"""Micro-batched local embeddings (EMBED_BATCH_WAIT_MS): concurrent prompts share one model run and each gets
the vector it would get alone, within the int8 model's per-batch quantisation shift; errors stay per prompt
(through a served gateway: integration/test_embed_batching_served.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.embedding.local import LocalEmbedder
from gateway.errors import EmbedderError
from tests.support.prompts import PROMPTS

# The prepared model quantises activations per batch, so a prompt's vector moves a little with its company
# (measured: cosine >= 0.99 to the prompt embedded alone); a wrong pairing of results would score ~0.1-0.5.
SAME_VECTOR = 0.985


@pytest.fixture(scope="module")
def alone() -> dict[str, np.ndarray]:
    embedder = LocalEmbedder()
    return {text: embedder.embed_batch([text])[0] for text in PROMPTS}


def embed_together(**options: float) -> tuple[list[np.ndarray], int]:
    """Every prompt embedded at once by a fresh embedder: the vectors, and how many model runs they took."""
    async def scenario() -> tuple[list[np.ndarray], int]:
        embedder = LocalEmbedder(**options)
        before = embedder.runs
        vectors = await asyncio.gather(*(embedder.embed(text) for text in PROMPTS))
        runs = embedder.runs - before
        await embedder.close()
        return vectors, runs

    return asyncio.run(scenario())


def test_concurrent_embeds_share_one_model_run(alone: dict[str, np.ndarray]) -> None:
    vectors, runs = embed_together(batch_wait_ms=50)
    assert runs == 1
    for text, vector in zip(PROMPTS, vectors, strict=True):
        assert vector.shape == (384,) and vector.dtype == np.float32
        assert float(vector @ alone[text]) >= SAME_VECTOR, text


def test_without_a_wait_every_prompt_runs_alone(alone: dict[str, np.ndarray]) -> None:
    vectors, runs = embed_together()
    assert runs == len(PROMPTS)
    for text, vector in zip(PROMPTS, vectors, strict=True):
        assert np.array_equal(vector, alone[text])


def test_batches_are_bounded_and_late_callers_join_the_next(alone: dict[str, np.ndarray]) -> None:
    async def scenario() -> tuple[list[np.ndarray], int]:
        embedder = LocalEmbedder(batch_wait_ms=20)
        before = embedder.runs
        texts = PROMPTS * 5  # 40 prompts: more than one batch holds
        vectors = await asyncio.gather(*(embedder.embed(text) for text in texts))
        runs = embedder.runs - before
        await embedder.close()
        return vectors, runs

    vectors, runs = asyncio.run(scenario())
    assert 3 <= runs <= 5  # 16 + 16 + 8, give or take a batch started before everyone arrived
    for text, vector in zip(PROMPTS * 5, vectors, strict=True):
        assert float(vector @ alone[text]) >= SAME_VECTOR


def test_a_bad_prompt_fails_alone_and_a_cancelled_caller_harms_nobody(alone: dict[str, np.ndarray]) -> None:
    async def scenario() -> list[np.ndarray | BaseException]:
        embedder = LocalEmbedder(batch_wait_ms=30)
        leaving = asyncio.ensure_future(embedder.embed("this caller goes away"))
        others = asyncio.gather(embedder.embed(PROMPTS[0]), embedder.embed("   "), embedder.embed(PROMPTS[1]),
                                return_exceptions=True)
        await asyncio.sleep(0)
        leaving.cancel()
        results = await others
        await embedder.close()
        with pytest.raises(EmbedderError):
            await embedder.embed(PROMPTS[0])
        return results

    first, blank, second = asyncio.run(scenario())
    assert isinstance(blank, EmbedderError)
    assert isinstance(first, np.ndarray) and float(first @ alone[PROMPTS[0]]) >= SAME_VECTOR
    assert isinstance(second, np.ndarray) and float(second @ alone[PROMPTS[1]]) >= SAME_VECTOR
