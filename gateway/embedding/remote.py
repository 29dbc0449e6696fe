"""The `openai` embedder: text-embedding-3-small (1536-d) through the upstream's `/v1/embeddings`, as in
the original design. Each hit then waits for one embeddings call; `local` avoids that."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from gateway.errors import EmbedderError, NotEmbeddable, UpstreamError
from gateway.upstream import UpstreamClient

DEFAULT_DIM = 1536


class RemoteEmbedder:
    def __init__(self, upstream: UpstreamClient, *, model: str, dim: int | None, timeout: float) -> None:
        self._upstream = upstream
        self._timeout = timeout  # far shorter than a generation's: a slow embedding must become a bypass
        self._model = model
        self.dim = dim or DEFAULT_DIM
        self.name = f"openai:{model}"
        # It reads 8,191 tokens; a longer text is refused (NotEmbeddable): what it embeds, it read whole.
        self.surely_read = 1 << 62
        # Never measured against the local model's: its distances are compared with the thresholds as they come.
        self.distance_scale = 1.0

    def reader(self, text: str) -> RemoteEmbedder:
        return self

    def read_chars(self, text: str) -> int:
        return len(text)

    async def embed(self, text: str, *, api_key: str | None = None) -> np.ndarray:
        body = orjson.dumps({"model": self._model, "input": text, "dimensions": self.dim})
        headers = [(b"content-type", b"application/json")]
        if api_key:
            headers.append((b"authorization", f"Bearer {api_key}".encode()))
        try:
            response = await self._upstream.send("POST", "/embeddings", headers=headers, content=body,
                                                 timeout=self._timeout)
            payload = await response.read()
        except UpstreamError as error:
            raise EmbedderError(f"embeddings call failed: {error}") from error
        if 400 <= response.status < 500:
            # This caller's key or this text (too long, a bad key, the key's rate limit): not an outage of the
            # embedder, so it must not make every other caller bypass the cache.
            raise NotEmbeddable(f"embeddings call answered HTTP {response.status} for this request")
        if response.status != 200:
            raise EmbedderError(f"embeddings call answered HTTP {response.status}")
        try:
            vector = np.asarray(orjson.loads(payload)["data"][0]["embedding"], dtype=np.float32)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
            raise EmbedderError("embeddings call answered an unexpected body") from error
        norm = float(np.linalg.norm(vector))
        if vector.shape != (self.dim,) or norm == 0.0:
            raise EmbedderError(f"embeddings call answered a vector of shape {vector.shape}")
        return vector / norm

    async def close(self) -> None:
        """The upstream client is owned by the app, not by this embedder."""

    def health(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim}
