"""What the cache policy needs of an embedder; `local` and `openai` both provide it."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # recorded with the index: vectors of two embedders never share one
    dim: int
    surely_read: int  # a text of at most this many characters is read whole

    def read_chars(self, text: str) -> int:
        """How many leading characters of `text` its vector reflects (len(text) when it reads it all)."""
        ...

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        """An L2-normalised float32 vector of shape (dim,); raises EmbedderError."""
        ...

    async def close(self) -> None: ...

    def health(self) -> dict[str, Any]: ...
