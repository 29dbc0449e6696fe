"""The e5 embedder and the per-language choice, with the real models: e5's vectors are unit length and stable; it
refuses a text with nothing to read, and a prompt past a full queue, and reads any other (NULs, lone surrogates, a
prompt far past its window, whose vector is exactly that of the start it reports); German, French and Spanish
prompts go to e5 and every other one to the local model; shadow checks and what prefetch learns compare only
vectors of one model, on the local model's scale; LANGUAGE_EMBEDDER=none is the local model alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from gateway.assembly import make_embedder, make_verifiers
from gateway.cache.agreement import answers_agree
from gateway.cache.follow_ups import FollowUpConfig, FollowUps
from gateway.cache.prompt_vectors import PromptVectors
from gateway.embedding.by_language import ByLanguage
from gateway.embedding.e5 import MAX_QUEUED, MAX_TOKENS, E5Embedder, _model
from gateway.embedding.local import LocalEmbedder
from gateway.embedding.remote import RemoteEmbedder
from gateway.errors import EmbedderError, NotEmbeddable
from gateway.guard import OutageGuard
from gateway.settings import load_settings
from gateway.store.memory import MemoryStore
from gateway.wire.answers import Reply

NO_DOTENV = Path("/nonexistent/.env")
GERMAN = "Wie lange muss ich Eier kochen, damit sie hart werden?"
# The local model puts it 0.25 from GERMAN, beyond the 0.20 threshold; e5 0.005 (0.016 on the local model's scale).
GERMAN_PARAPHRASE = "Wie lange sollte man Eier kochen, bis sie hart sind?"


@pytest.fixture
async def e5():
    embedder = E5Embedder()
    yield embedder
    await embedder.close()


@pytest.fixture
async def both(e5):
    local = LocalEmbedder()
    yield ByLanguage(local, e5, frozenset({"de", "fr", "es"}))
    await local.close()


async def test_vectors_are_unit_length_float32_and_stable(e5) -> None:
    first, again, other = await e5.embed(GERMAN), await e5.embed(GERMAN), await e5.embed(GERMAN_PARAPHRASE)
    assert first.shape == (384,) and first.dtype == np.float32
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5
    assert np.array_equal(first, again)
    assert 0.0 < 1.0 - float(first @ other) < 0.02


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01", "\u200b"])
async def test_a_text_with_nothing_to_read_is_not_embeddable(e5, text: str) -> None:
    with pytest.raises(NotEmbeddable):
        await e5.embed(text)


async def test_what_a_c_string_cannot_carry_is_embedded_all_the_same(e5) -> None:
    # A NUL would end the engine's string and hide the rest; a lone surrogate has no UTF-8 at all.
    assert np.array_equal(await e5.embed("Ist Kaffee\x00 nicht gesund?"), await e5.embed("Ist Kaffee  nicht gesund?"))
    assert (await e5.embed("Ist Kaffee \ud800 gesund?")).shape == (384,)


async def test_a_long_prompt_is_read_up_to_its_reported_end_and_no_further(e5) -> None:
    text = "Bitte beachte beim Antworten diese Hausregeln, sei knapp und nenne Quellen. " * 40 + "Und das Ende?"
    read = e5.read_chars(text)
    assert 0 < read < len(text)
    assert _model().token_count(text[:read], True) <= MAX_TOKENS < _model().token_count(text[:read + 40], True)
    assert np.array_equal(await e5.embed(text), await e5.embed(text[:read]))
    assert e5.read_chars(GERMAN) == len(GERMAN)


async def test_past_a_full_queue_a_prompt_is_matched_exactly_only(e5) -> None:
    texts = [f"Wie viele Tage hat der Monat Nummer {number}?" for number in range(MAX_QUEUED + 2)]
    found = await asyncio.gather(*(e5.embed(text) for text in texts), return_exceptions=True)
    assert [type(item) for item in found[MAX_QUEUED:]] == [NotEmbeddable, NotEmbeddable]
    assert all(isinstance(item, np.ndarray) for item in found[:MAX_QUEUED])
    assert (await e5.embed(texts[-1])).shape == (384,)  # the queue drained: taken again


async def test_a_closed_embedder_refuses_to_embed(e5) -> None:
    await e5.close()
    with pytest.raises(EmbedderError):
        await e5.embed(GERMAN)


async def test_each_language_goes_to_its_embedder(both) -> None:
    for text in (GERMAN, "Comment cuire des pâtes ?", "¿Cómo aprendo inglés rápido?"):
        assert both.reader(text) is both.special
    for text in ("How long should I boil an egg?", "weather paris", "Hoe kook ik een ei?"):  # Dutch not asked for
        assert both.reader(text) is both.default
    assert np.array_equal(await both.embed(GERMAN), await both.special.embed(GERMAN))
    assert both.read_chars(GERMAN) == len(GERMAN)
    assert both.name != both.default.name and both.special.name in both.name  # an index records the pair
    assert both.health()["languages"] == {"de,es,fr": both.special.health()}


async def test_shadow_checks_compare_german_answers_on_the_local_models_scale(both) -> None:
    # e5 puts these two different answers at cosine 0.89, past the 0.85 at which two answers agree unscaled.
    boil, peel = "Kochen Sie die Eier zehn Minuten lang in sprudelndem Wasser.", \
        "Schälen Sie die Kartoffeln und schneiden Sie sie in Würfel."
    assert not await answers_agree(Reply(boil), Reply(peel), both)
    assert await answers_agree(Reply(boil), Reply("Die Eier zehn Minuten in kochendem Wasser kochen."), both)


def test_vectors_of_two_sizes_cannot_share_an_index(e5) -> None:
    remote = RemoteEmbedder(None, model="text-embedding-3-small", dim=1536, timeout=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1536"):
        ByLanguage(remote, e5, frozenset({"de"}))


async def test_prefetch_counts_paraphrases_in_german_as_one_and_never_compares_two_models(both) -> None:
    guard = OutageGuard("test", 1.0)
    config = FollowUpConfig(min_prob=0.5, min_count=2, distance=0.2, ttl_ms=60_000)
    follow_ups = FollowUps(MemoryStore(100), PromptVectors(both, guard), guard, config)
    await follow_ups.learn("ctx", GERMAN, api_key=None)
    await follow_ups.learn("ctx", GERMAN_PARAPHRASE, api_key=None)
    assert await follow_ups.likely("ctx") == GERMAN
    # The English question's local vector is not held against the German e5 centroid: a row of its own.
    await follow_ups.learn("ctx", "How long should I boil eggs to make them hard?", api_key=None)
    assert len(await follow_ups.table("ctx")) == 2


async def test_none_is_the_local_model_alone_and_the_rules_alone_judge_e5_prompts() -> None:
    plain = load_settings(environ={"LANGUAGE_EMBEDDER": "none"}, dotenv=NO_DOTENV)
    embedder = make_embedder(plain, upstream=None)  # type: ignore[arg-type]
    await embedder.close()
    assert isinstance(embedder, LocalEmbedder) and embedder.name == "all-MiniLM-L6-v2"
    verifier, others = make_verifiers(plain, embedder)
    assert verifier is not None and verifier.trees is not None and others == {}
    settings = load_settings(environ={}, dotenv=NO_DOTENV)
    assert settings.language_embedder == "e5"
    both = make_embedder(settings, upstream=None)  # type: ignore[arg-type]
    await both.close()
    assert isinstance(both, ByLanguage) and both.languages == {"de", "fr", "es", "pt", "it", "nl"}
    verifier, others = make_verifiers(settings, both)
    assert verifier is not None and verifier.trees is not None and others[both.special.name].trees is None
    remote = load_settings(environ={"EMBED_PROVIDER": "openai"}, dotenv=NO_DOTENV)
    assert isinstance(make_embedder(remote, upstream=None), RemoteEmbedder)  # type: ignore[arg-type]
