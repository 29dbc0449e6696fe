"""What the cache policy needs of an embedder; `local`, `openai`, `e5` and `by_language` provide it."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # recorded with the index: vectors of two embedders never share one
    dim: int
    surely_read: int  # a text of at most this many characters is read whole
    # Its cosine distances times this are on the shipped local model's scale, where every threshold is set
    # (CACHE_DISTANCE_THRESHOLD, learnt and client thresholds, route budgets): each keeps its meaning whoever embeds.
    distance_scale: float

    def reader(self, text: str) -> Embedder:
        """The embedder that makes `text`'s vector: itself, or the one for its language. Two vectors are comparable
        only when the same one made both, and their distances are on its `distance_scale`."""
        ...

    def read_chars(self, text: str) -> int:
        """How many leading characters of `text` its vector reflects (len(text) when it reads it all)."""
        ...

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        """An L2-normalised float32 vector of shape (dim,); raises EmbedderError."""
        ...

    async def close(self) -> None: ...

    def health(self) -> dict[str, Any]: ...
