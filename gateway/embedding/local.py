"""all-MiniLM-L6-v2 sentence embeddings on the CPU, in-process: ONNX Runtime + `tokenizers`, no torch."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from gateway.embedding.batching import MicroBatcher
from gateway.embedding.model_files import (
    MIN_COSINE,
    PROBE_KEY,
    PROBE_TEXT,
    RECIPE,
    RECIPE_KEY,
    prepared_model_path,
    shipped_model_path,
    tokenizer_path,
)
from gateway.errors import EmbedderError, NotEmbeddable

log = logging.getLogger(__name__)

#: The model's max_seq_length (sentence-transformers config), [CLS] and [SEP] included.
MAX_TOKENS = 256
# Tokenising is ~0.3 µs per character, so a 1 MB prompt would block the embedder for ~0.5 s only to be cut
# at 256 pieces. Normal text reaches 256 pieces in ~1,300 characters; see `_encode` for why the cut is exact.
_CLIP_CHARS = 4096
#: Prompts of up to this many word pieces (~50 words) take ~1-3 ms to embed: short enough to run on the loop.
INLINE_TOKENS = 64
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "last_hidden_state"


class LocalEmbedder:
    """Sentence vectors from all-MiniLM-L6-v2: mean-pooled over the attention mask, L2-normalised, float32.

    - Input is truncated to the model's 256 word pieces ([CLS] and [SEP] included): for longer prompts only
      roughly the first 200 words decide the vector, the rest is ignored.
    - A text with no word pieces (empty, whitespace or control characters only) raises `EmbedderError`: its
      vector would be the same constant for every such prompt, so it must not be used as a cache key.
    - Batches are padded to their longest member. With the int8 model a prompt's vector shifts slightly with
      the rest of a padded batch (activations are quantised per batch: cosine >= 0.99 to the prompt embedded
      alone), so `embed` embeds one prompt at a time unless `batch_wait_ms` > 0 asks for micro-batches.
    - One ONNX Runtime session per instance, run by `embed` on the event loop for a short prompt when nothing
      else is being embedded, else on a single worker thread owned by the instance (ONNX Runtime releases the
      GIL, so the event loop keeps running meanwhile). `runs` counts model runs.
    """

    name: str = "all-MiniLM-L6-v2"
    dim: int = 384
    # Every character makes at most one word piece, and [CLS] and [SEP] take two of the 256.
    surely_read: int = MAX_TOKENS - 2
    distance_scale: float = 1.0  # the scale every threshold is set on

    def __init__(self, model_path: Path | None = None, threads: int = 1, model_dir: Path | None = None,
                 batch_wait_ms: float = 0.0) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        self._tokenizer = self.load_tokenizer()
        self._outputs = [_OUTPUT]
        # Read-only buffers sliced per call, so a single prompt allocates only its ids and the output.
        self._ones = np.ones(MAX_TOKENS, dtype=np.int64)
        self._zeros = np.zeros(MAX_TOKENS, dtype=np.int64)
        self.runs = 0
        if model_path is None:
            self.model_path, self._session = self._open_default(threads, model_dir)
        else:
            self.model_path = Path(model_path)
            self._session = _open_session(self.model_path, threads)
        self.prepared = _metadata(self._session, RECIPE_KEY) == RECIPE
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-embedder")
        self._batch_wait_ms = batch_wait_ms
        self._batcher = (MicroBatcher(self._embed_each, self._executor, wait_secs=batch_wait_ms / 1000)
                         if batch_wait_ms > 0 else None)
        self._queued = 0  # prompts handed to the worker thread and not back yet
        self._closed = False

    def reader(self, text: str) -> LocalEmbedder:
        return self

    @staticmethod
    def load_tokenizer() -> Tokenizer:
        """The model's tokenizer, truncating at 256 pieces and not padding (batches pad to their longest)."""
        tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        tokenizer.no_padding()  # the shipped file pads every prompt to 128 tokens, which costs ~5x on short ones
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        return tokenizer

    def _open_default(self, threads: int, model_dir: Path | None) -> tuple[Path, ort.InferenceSession]:
        prepared = prepared_model_path(model_dir)
        try:
            self._session = _open_session(prepared, threads)
            problem = self._prepared_problem()
        except EmbedderError as exc:
            problem = "does not exist" if not prepared.is_file() else f"cannot be used ({exc})"
        if problem is None:
            return prepared, self._session
        log.warning(
            "prepared embedding model %s %s; using the slower shipped model instead. "
            "Run `latency-slayer prepare-model` once for ~2.5x faster embeddings (it needs the 'prepare' extra: "
            "pip install 'latency-slayer[prepare]').",
            prepared,
            problem,
        )
        shipped = shipped_model_path()
        return shipped, _open_session(shipped, threads)

    def _prepared_problem(self) -> str | None:
        """Why the just-opened prepared model must not be used here, or None if it is fine."""
        if _metadata(self._session, RECIPE_KEY) != RECIPE:
            return "was built by another version of the gateway"
        try:
            expected = np.frombuffer(base64.b64decode(_metadata(self._session, PROBE_KEY) or ""), dtype="<f4")
        except (binascii.Error, ValueError):
            expected = np.empty(0, dtype=np.float32)
        if expected.shape != (self.dim,):
            return "has no valid reference vector"
        # Also warms the session up, so the first request does not pay for ONNX Runtime's lazy set-up.
        agreement = float(self.embed_batch([PROBE_TEXT])[0] @ expected)
        if agreement < MIN_COSINE:
            return f"disagrees with the reference model on this CPU (cosine {agreement:.4f} < {MIN_COSINE})"
        return None

    def _encode(self, text: str) -> list[int]:
        if len(text) > _CLIP_CHARS:
            # Cut at whitespace: normalisation is per character and pre-tokenisation splits on whitespace,
            # so a prefix that still fills all 256 pieces yields exactly the pieces of the whole text.
            cut = max(text.rfind(" ", 0, _CLIP_CHARS), text.rfind("\n", 0, _CLIP_CHARS))
            if cut > 0:
                ids = self._tokenizer.encode(text[:cut]).ids
                if len(ids) == MAX_TOKENS:
                    return ids
        ids = self._tokenizer.encode(text).ids
        if len(ids) <= 2:
            raise NotEmbeddable("the text has no words to embed (empty or whitespace only)")
        return ids

    def read_chars(self, text: str) -> int:
        """Where the 256th word piece ends: the vector knows nothing of what follows."""
        encoding = self._tokenizer.encode(text[:_CLIP_CHARS])
        if len(encoding.ids) < MAX_TOKENS:
            return len(text) if len(text) <= _CLIP_CHARS else _CLIP_CHARS
        return int(encoding.offsets[-2][1])  # the last piece before [SEP]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), 384), float32, unit length. Raises `EmbedderError`."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return self._run([self._tokens(text) for text in texts])

    def _embed_each(self, texts: list[str]) -> list[np.ndarray | EmbedderError]:
        """One model run for every text that can be embedded; each other text gets its own error."""
        rows: list[list[int] | EmbedderError] = []
        for text in texts:
            try:
                rows.append(self._tokens(text))
            except EmbedderError as error:
                rows.append(error)
        valid = [row for row in rows if not isinstance(row, EmbedderError)]
        try:
            vectors = iter(self._run(valid)) if valid else iter(())
        except EmbedderError as error:
            return [error] * len(texts)
        return [row if isinstance(row, EmbedderError) else next(vectors) for row in rows]

    def _tokens(self, text: str) -> list[int]:
        try:
            return self._encode(text)
        except EmbedderError:
            raise
        except Exception as exc:  # e.g. a non-str item: report it as this component's failure
            raise EmbedderError(f"cannot tokenise the text: {exc}") from exc

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in rows)
        if len(rows) == 1:
            ids = np.array(rows, dtype=np.int64)
            mask = self._ones[:width].reshape(1, width)
            types = self._zeros[:width].reshape(1, width)
        else:
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, row in enumerate(rows):
                ids[i, : len(row)] = row
                mask[i, : len(row)] = 1
            types = np.zeros_like(ids)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        self.runs += 1
        try:
            hidden = self._session.run(self._outputs, feed)[0]
        except Exception as exc:
            raise EmbedderError(f"the embedding model failed: {exc}") from exc
        if len(rows) == 1:
            pooled = hidden.mean(axis=1)
        else:
            weights = mask.astype(np.float32)
            pooled = np.matmul(weights[:, None, :], hidden)[:, 0, :] / weights.sum(axis=1, keepdims=True)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled.astype(np.float32, copy=False)

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        """The vector of one prompt, shape (384,).

        A short prompt that finds the embedder idle is embedded right here, on the event loop: handing it to
        the worker thread and back costs two thread wake-ups, which on a busy 2-core machine took longer than
        the ~1-2 ms the model needs (measured: 5.5 ms through the thread, 2.5 ms inline). Anything that could
        hold the loop longer (a long prompt, or prompts already queued) goes to the worker thread.
        `api_key` is accepted (and ignored) so this class satisfies `gateway.embedding.base.Embedder`.
        """
        if self._batcher is not None:
            return await self._batcher.embed(text)
        if self._closed:
            raise EmbedderError("embedding failed: the embedder is closed")
        loop = asyncio.get_running_loop()
        if self._queued:
            job = loop.run_in_executor(self._executor, self.embed_batch, [text])
        else:
            ids = self._tokens(text)
            if len(ids) <= INLINE_TOKENS:
                return self._run([ids])[0]
            job = loop.run_in_executor(self._executor, self._run, [ids])
        self._queued += 1
        try:
            vectors = await job
        except EmbedderError:
            raise
        except Exception as exc:  # includes "cannot schedule new futures after shutdown" once closed
            raise EmbedderError(f"embedding failed: {exc}") from exc
        finally:
            self._queued -= 1
        return vectors[0]

    async def close(self) -> None:
        """Stop the worker thread after any embedding already queued; later `embed` calls raise."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def health(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "model_file": self.model_path.name, "prepared": self.prepared,
                "batch_wait_ms": self._batch_wait_ms, "model_runs": self.runs}


def _open_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbedderError(f"cannot load the embedding model {path}: {exc}") from exc
    inputs, outputs = {i.name for i in session.get_inputs()}, {o.name for o in session.get_outputs()}
    if inputs != set(_INPUTS) or _OUTPUT not in outputs:
        raise EmbedderError(f"{path} does not have the inputs/outputs of a MiniLM encoder export")
    return session


def _metadata(session: ort.InferenceSession, key: str) -> str | None:
    return session.get_modelmeta().custom_metadata_map.get(key)
